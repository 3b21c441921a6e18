#pragma once
// Error checking, bf16 buffers and event timing shared by the kernels.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#define HETSIM_CUDA_CHECK(expr)                                                                         \
  do {                                                                                                  \
    const cudaError_t hetsim_err = (expr);                                                              \
    if (hetsim_err != cudaSuccess)                                                                      \
      throw std::runtime_error(std::string(#expr) + ": " + cudaGetErrorString(hetsim_err));            \
  } while (0)

namespace hetsim::kernels {

/// A device buffer of T owned by RAII.
template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t n) : n_(n) { HETSIM_CUDA_CHECK(cudaMalloc(&ptr_, std::max<std::size_t>(1, n) * sizeof(T))); }
  ~DeviceBuffer() { cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() const { return ptr_; }
  std::size_t size() const { return n_; }

 private:
  T* ptr_ = nullptr;
  std::size_t n_;
};

inline std::unique_ptr<DeviceBuffer<__nv_bfloat16>> upload_bf16(const std::vector<float>& host) {
  std::vector<__nv_bfloat16> tmp(host.size());
  for (std::size_t i = 0; i < host.size(); ++i) tmp[i] = __float2bfloat16(host[i]);
  auto buf = std::make_unique<DeviceBuffer<__nv_bfloat16>>(host.size());
  HETSIM_CUDA_CHECK(cudaMemcpy(buf->get(), tmp.data(), tmp.size() * sizeof(__nv_bfloat16), cudaMemcpyHostToDevice));
  return buf;
}

inline std::vector<float> download_bf16(const DeviceBuffer<__nv_bfloat16>& buf) {
  std::vector<__nv_bfloat16> tmp(buf.size());
  HETSIM_CUDA_CHECK(cudaMemcpy(tmp.data(), buf.get(), tmp.size() * sizeof(__nv_bfloat16), cudaMemcpyDeviceToHost));
  std::vector<float> out(tmp.size());
  for (std::size_t i = 0; i < tmp.size(); ++i) out[i] = __bfloat162float(tmp[i]);
  return out;
}

/// Median GPU time of `launch()` over `repeats` timed runs after `warmup` untimed ones (CUDA events).
template <class Launch>
double median_time(Launch launch, int warmup, int repeats) {
  for (int i = 0; i < warmup; ++i) launch();
  HETSIM_CUDA_CHECK(cudaDeviceSynchronize());
  cudaEvent_t start, stop;
  HETSIM_CUDA_CHECK(cudaEventCreate(&start));
  HETSIM_CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    HETSIM_CUDA_CHECK(cudaEventRecord(start));
    launch();
    HETSIM_CUDA_CHECK(cudaEventRecord(stop));
    HETSIM_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    HETSIM_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(ms * 1e-3);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::nth_element(times.begin(), times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2), times.end());
  return times[times.size() / 2];
}

}  // namespace hetsim::kernels
