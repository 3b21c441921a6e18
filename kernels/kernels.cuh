#pragma once
// Kernel launchers on device buffers (bf16 in and out, fp32 accumulation).
#include <cublas_v2.h>
#include <cuda_bf16.h>

#include <cstdint>

namespace hetsim::kernels {

/// C[m][n] = A[m][k] B[k][n], row-major, through cuBLAS (computed as C^T = B^T A^T column-major).
void launch_gemm_cublas(cublasHandle_t handle, int m, int n, int k, const __nv_bfloat16* a, const __nv_bfloat16* b,
                        __nv_bfloat16* c);
/// The same product with hetsim's shared-memory tiled kernel (a baseline, not a competitor).
void launch_gemm_tiled(int m, int n, int k, const __nv_bfloat16* a, const __nv_bfloat16* b, __nv_bfloat16* c);
void launch_rmsnorm(int rows, int dim, const __nv_bfloat16* x, const __nv_bfloat16* w, float eps, __nv_bfloat16* out);
void launch_silu_mul(int rows, int dim, const __nv_bfloat16* gate_up, __nv_bfloat16* out);
void launch_attention_prefill(int tokens, int context_before, int heads, int kv_heads, int head_dim, const __nv_bfloat16* q,
                              const __nv_bfloat16* k, const __nv_bfloat16* v, __nv_bfloat16* out);
void launch_paged_decode_attention(int seqs, int heads, int kv_heads, int head_dim, int block_size, int max_blocks,
                                   const __nv_bfloat16* q, const __nv_bfloat16* k_cache, const __nv_bfloat16* v_cache,
                                   const std::int32_t* block_tables, const std::int32_t* context_lens, __nv_bfloat16* out);
void launch_empty();

}  // namespace hetsim::kernels
