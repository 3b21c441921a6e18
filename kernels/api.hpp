#pragma once
// Host-side entry points to the CUDA kernels, on plain float vectors (converted to and from bf16
// on the device). Used by the [cuda] correctness tests against kernels/reference.hpp; the
// calibration runner times the same kernels on device buffers. Built only with the CUDA toolkit.
#include <cstdint>
#include <string>
#include <vector>

namespace hetsim::kernels {

int cuda_device_count();
std::string cuda_device_name(int device);

std::vector<float> gemm_cublas_bf16(int m, int n, int k, const std::vector<float>& a, const std::vector<float>& b);
std::vector<float> gemm_tiled_bf16(int m, int n, int k, const std::vector<float>& a, const std::vector<float>& b);
std::vector<float> rmsnorm_bf16(int rows, int dim, const std::vector<float>& x, const std::vector<float>& w, float eps);
std::vector<float> silu_mul_bf16(int rows, int dim, const std::vector<float>& gate_up);
std::vector<float> attention_prefill_bf16(int tokens, int context_before, int heads, int kv_heads, int head_dim,
                                          const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v);
std::vector<float> paged_decode_attention_bf16(int seqs, int heads, int kv_heads, int head_dim, int block_size, int max_blocks,
                                               const std::vector<float>& q, const std::vector<float>& k_cache,
                                               const std::vector<float>& v_cache, const std::vector<std::int32_t>& block_tables,
                                               const std::vector<std::int32_t>& context_lens);

}  // namespace hetsim::kernels
