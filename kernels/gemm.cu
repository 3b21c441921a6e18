// GEMM kernels: cuBLAS (what serving engines use) and a shared-memory tiled baseline.
#include "kernels/cuda_util.cuh"
#include "kernels/kernels.cuh"

namespace hetsim::kernels {

void launch_gemm_cublas(cublasHandle_t handle, int m, int n, int k, const __nv_bfloat16* a, const __nv_bfloat16* b,
                        __nv_bfloat16* c) {
  // Row-major C = A B is column-major C^T = B^T A^T: pass B as the left operand.
  const float alpha = 1.0f, beta = 0.0f;
  const cublasStatus_t st = cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &alpha, b, CUDA_R_16BF, n, a, CUDA_R_16BF,
                                         k, &beta, c, CUDA_R_16BF, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  if (st != CUBLAS_STATUS_SUCCESS) throw std::runtime_error("cublasGemmEx failed with status " + std::to_string(st));
}

namespace {
constexpr int kTile = 16;

__global__ void gemm_tiled_kernel(int m, int n, int k, const __nv_bfloat16* a, const __nv_bfloat16* b, __nv_bfloat16* c) {
  __shared__ float as[kTile][kTile];
  __shared__ float bs[kTile][kTile];
  const int row = blockIdx.y * kTile + threadIdx.y;
  const int col = blockIdx.x * kTile + threadIdx.x;
  float acc = 0.0f;
  for (int t = 0; t < k; t += kTile) {
    as[threadIdx.y][threadIdx.x] = (row < m && t + threadIdx.x < k) ? __bfloat162float(a[row * k + t + threadIdx.x]) : 0.0f;
    bs[threadIdx.y][threadIdx.x] = (col < n && t + threadIdx.y < k) ? __bfloat162float(b[(t + threadIdx.y) * n + col]) : 0.0f;
    __syncthreads();
#pragma unroll
    for (int p = 0; p < kTile; ++p) acc += as[threadIdx.y][p] * bs[p][threadIdx.x];
    __syncthreads();
  }
  if (row < m && col < n) c[row * n + col] = __float2bfloat16(acc);
}
}  // namespace

void launch_gemm_tiled(int m, int n, int k, const __nv_bfloat16* a, const __nv_bfloat16* b, __nv_bfloat16* c) {
  const dim3 block(kTile, kTile);
  const dim3 grid((n + kTile - 1) / kTile, (m + kTile - 1) / kTile);
  gemm_tiled_kernel<<<grid, block>>>(m, n, k, a, b, c);
  HETSIM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace hetsim::kernels
