// Host wrappers: upload floats as bf16, run one kernel, download floats (for correctness tests).
#include <cublas_v2.h>

#include "kernels/api.hpp"
#include "kernels/cuda_util.cuh"
#include "kernels/kernels.cuh"

namespace hetsim::kernels {

int cuda_device_count() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

std::string cuda_device_name(int device) {
  cudaDeviceProp prop{};
  HETSIM_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return prop.name;
}

std::vector<float> gemm_cublas_bf16(int m, int n, int k, const std::vector<float>& a, const std::vector<float>& b) {
  auto da = upload_bf16(a), db = upload_bf16(b);
  DeviceBuffer<__nv_bfloat16> dc(static_cast<std::size_t>(m) * n);
  cublasHandle_t handle;
  if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) throw std::runtime_error("cublasCreate failed");
  launch_gemm_cublas(handle, m, n, k, da->get(), db->get(), dc.get());
  HETSIM_CUDA_CHECK(cudaDeviceSynchronize());
  cublasDestroy(handle);
  return download_bf16(dc);
}

std::vector<float> gemm_tiled_bf16(int m, int n, int k, const std::vector<float>& a, const std::vector<float>& b) {
  auto da = upload_bf16(a), db = upload_bf16(b);
  DeviceBuffer<__nv_bfloat16> dc(static_cast<std::size_t>(m) * n);
  launch_gemm_tiled(m, n, k, da->get(), db->get(), dc.get());
  HETSIM_CUDA_CHECK(cudaDeviceSynchronize());
  return download_bf16(dc);
}

std::vector<float> rmsnorm_bf16(int rows, int dim, const std::vector<float>& x, const std::vector<float>& w, float eps) {
  auto dx = upload_bf16(x), dw = upload_bf16(w);
  DeviceBuffer<__nv_bfloat16> out(x.size());
  launch_rmsnorm(rows, dim, dx->get(), dw->get(), eps, out.get());
  HETSIM_CUDA_CHECK(cudaDeviceSynchronize());
  return download_bf16(out);
}

std::vector<float> silu_mul_bf16(int rows, int dim, const std::vector<float>& gate_up) {
  auto dg = upload_bf16(gate_up);
  DeviceBuffer<__nv_bfloat16> out(static_cast<std::size_t>(rows) * dim);
  launch_silu_mul(rows, dim, dg->get(), out.get());
  HETSIM_CUDA_CHECK(cudaDeviceSynchronize());
  return download_bf16(out);
}

std::vector<float> attention_prefill_bf16(int tokens, int context_before, int heads, int kv_heads, int head_dim,
                                          const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v) {
  auto dq = upload_bf16(q), dk = upload_bf16(k), dv = upload_bf16(v);
  DeviceBuffer<__nv_bfloat16> out(q.size());
  launch_attention_prefill(tokens, context_before, heads, kv_heads, head_dim, dq->get(), dk->get(), dv->get(), out.get());
  HETSIM_CUDA_CHECK(cudaDeviceSynchronize());
  return download_bf16(out);
}

std::vector<float> paged_decode_attention_bf16(int seqs, int heads, int kv_heads, int head_dim, int block_size, int max_blocks,
                                               const std::vector<float>& q, const std::vector<float>& k_cache,
                                               const std::vector<float>& v_cache, const std::vector<std::int32_t>& block_tables,
                                               const std::vector<std::int32_t>& context_lens) {
  auto dq = upload_bf16(q), dk = upload_bf16(k_cache), dv = upload_bf16(v_cache);
  DeviceBuffer<std::int32_t> tables(block_tables.size()), lens(context_lens.size());
  HETSIM_CUDA_CHECK(cudaMemcpy(tables.get(), block_tables.data(), block_tables.size() * 4, cudaMemcpyHostToDevice));
  HETSIM_CUDA_CHECK(cudaMemcpy(lens.get(), context_lens.data(), context_lens.size() * 4, cudaMemcpyHostToDevice));
  DeviceBuffer<__nv_bfloat16> out(q.size());
  launch_paged_decode_attention(seqs, heads, kv_heads, head_dim, block_size, max_blocks, dq->get(), dk->get(), dv->get(),
                                tables.get(), lens.get(), out.get());
  HETSIM_CUDA_CHECK(cudaDeviceSynchronize());
  return download_bf16(out);
}

}  // namespace hetsim::kernels
