// Calibration runner: times every op class over the shapes transformer layers produce (Llama-3-8B
// and -70B projections; decode = small M, prefill = large M), plus an empty kernel for the launch
// overhead and NCCL all-reduce when more than one GPU is visible.
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_fp8.h>
#include <fmt/format.h>

#include <chrono>
#include <vector>

#ifdef HETSIM_HAVE_NCCL
#include <nccl.h>
#endif

#include "kernels/runner.hpp"
#include "kernels/cuda_util.cuh"
#include "kernels/kernels.cuh"
#include "sim/core/error.hpp"

namespace hetsim::calibrate {
namespace k = hetsim::kernels;

namespace {

constexpr double kBf16 = 2.0;

std::string describe_gpu(int device) {
  cudaDeviceProp p{};
  HETSIM_CUDA_CHECK(cudaGetDeviceProperties(&p, device));
  int driver = 0, runtime = 0, clock_khz = 0, mem_clock_khz = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, device);
  cudaDeviceGetAttribute(&mem_clock_khz, cudaDevAttrMemoryClockRate, device);
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d", std::gmtime(&now));
  return fmt::format("{}; sm_{}{}, {} SMs, {:.0f} GiB; SM clock {} MHz, memory clock {} MHz (max, as reported); driver {}, "
                     "runtime {}",
                     date, p.major, p.minor, p.multiProcessorCount, p.totalGlobalMem / 1073741824.0, clock_khz / 1000,
                     mem_clock_khz / 1000, driver, runtime);
}

struct Grid {
  std::vector<int> gemm_m;
  std::vector<std::pair<int, int>> gemm_nk;  // (N, K): qkv, o, gate_up, down of Llama-3-8B/70B at TP 1
  std::vector<int> prefill_tokens, prefill_context, decode_seqs, decode_context, rows;
};

Grid make_grid(bool quick) {
  Grid g;
  if (quick) {
    g.gemm_m = {1, 8, 64, 512, 4096};
    g.gemm_nk = {{6144, 4096}, {28672, 4096}, {4096, 14336}};
    g.prefill_tokens = {256, 2048};
    g.prefill_context = {0, 2048};
    g.decode_seqs = {1, 16, 128};
    g.decode_context = {512, 4096};
    g.rows = {1, 64, 1024, 8192};
  } else {
    g.gemm_m = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192};
    g.gemm_nk = {{6144, 4096}, {4096, 4096}, {28672, 4096}, {4096, 14336}, {10240, 8192}, {8192, 8192}, {57344, 8192}, {8192, 28672}};
    g.prefill_tokens = {64, 256, 1024, 4096};
    g.prefill_context = {0, 1024, 4096};
    g.decode_seqs = {1, 4, 16, 64, 256};
    g.decode_context = {128, 1024, 4096, 16384};
    g.rows = {1, 8, 64, 512, 4096, 16384};
  }
  return g;
}

void measure_gemms(const Grid& g, const GridOptions& o, std::vector<Measurement>& out) {
  cublasHandle_t handle;
  if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) throw std::runtime_error("cublasCreate failed");
  for (auto [n, kk] : g.gemm_nk)
    for (int m : g.gemm_m) {
      k::DeviceBuffer<__nv_bfloat16> a(static_cast<size_t>(m) * kk), b(static_cast<size_t>(kk) * n), c(static_cast<size_t>(m) * n);
      HETSIM_CUDA_CHECK(cudaMemset(a.get(), 0, a.size() * 2));
      HETSIM_CUDA_CHECK(cudaMemset(b.get(), 0, b.size() * 2));
      const double flops = 2.0 * m * n * kk;
      const double bytes = kBf16 * (static_cast<double>(m) * kk + static_cast<double>(kk) * n + static_cast<double>(m) * n);
      const std::string shape = fmt::format("m={};n={};k={}", m, n, kk);
      const double t = k::median_time([&] { k::launch_gemm_cublas(handle, m, n, kk, a.get(), b.get(), c.get()); }, o.warmup, o.repeats);
      out.push_back({OpClass::gemm, "cublas_bf16", shape, DType::bf16, flops, bytes, t});
      if (m <= 512 || !o.quick) {  // the tiled baseline is slow on big shapes; keep the quick mode quick
        const double tt = k::median_time([&] { k::launch_gemm_tiled(m, n, kk, a.get(), b.get(), c.get()); }, 1, 3);
        // Recorded for comparison; not part of the gemm fit (which prices what serving engines run).
        out.push_back({OpClass::gemm, "tiled_baseline", shape, DType::fp32, flops, bytes, tt});
      }
    }
  cublasDestroy(handle);
}

/// FP8 (E4M3) GEMMs through cuBLASLt on GPUs with FP8 tensor cores (sm_89+). cuBLASLt wants the
/// "TN" layout for FP8 and dimensions that are multiples of 16; timing needs only the shapes, so the
/// operands are zero-filled. Shapes cuBLASLt offers no algorithm for are skipped, not failed.
void measure_fp8_gemms(const Grid& g, const GridOptions& o, std::vector<Measurement>& out) {
  cudaDeviceProp p{};
  HETSIM_CUDA_CHECK(cudaGetDeviceProperties(&p, 0));
  if (p.major * 10 + p.minor < 89) return;
  cublasLtHandle_t lt;
  if (cublasLtCreate(&lt) != CUBLAS_STATUS_SUCCESS) return;
  constexpr size_t kWorkspace = 32u << 20;
  k::DeviceBuffer<unsigned char> workspace(kWorkspace);
  for (auto [n, kk] : g.gemm_nk)
    for (int m : g.gemm_m) {
      if (m % 16 != 0 || n % 16 != 0 || kk % 16 != 0) continue;
      k::DeviceBuffer<__nv_fp8_e4m3> a(static_cast<size_t>(kk) * m), b(static_cast<size_t>(kk) * n);
      k::DeviceBuffer<__nv_bfloat16> c(static_cast<size_t>(m) * n);
      HETSIM_CUDA_CHECK(cudaMemset(a.get(), 0, a.size()));
      HETSIM_CUDA_CHECK(cudaMemset(b.get(), 0, b.size()));
      cublasLtMatmulDesc_t desc = nullptr;
      cublasLtMatrixLayout_t adesc = nullptr, bdesc = nullptr, cdesc = nullptr;
      cublasLtMatmulPreference_t pref = nullptr;
      bool ok = cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F) == CUBLAS_STATUS_SUCCESS;
      const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
      ok = ok && cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta) == CUBLAS_STATUS_SUCCESS;
      ok = ok && cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb) == CUBLAS_STATUS_SUCCESS;
      // D (m x n, column-major) = A^T B with A stored k x m and B stored k x n.
      ok = ok && cublasLtMatrixLayoutCreate(&adesc, CUDA_R_8F_E4M3, kk, m, kk) == CUBLAS_STATUS_SUCCESS;
      ok = ok && cublasLtMatrixLayoutCreate(&bdesc, CUDA_R_8F_E4M3, kk, n, kk) == CUBLAS_STATUS_SUCCESS;
      ok = ok && cublasLtMatrixLayoutCreate(&cdesc, CUDA_R_16BF, m, n, m) == CUBLAS_STATUS_SUCCESS;
      ok = ok && cublasLtMatmulPreferenceCreate(&pref) == CUBLAS_STATUS_SUCCESS;
      ok = ok && cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &kWorkspace,
                                                      sizeof kWorkspace) == CUBLAS_STATUS_SUCCESS;
      cublasLtMatmulHeuristicResult_t heuristic{};
      int found = 0;
      ok = ok && cublasLtMatmulAlgoGetHeuristic(lt, desc, adesc, bdesc, cdesc, cdesc, pref, 1, &heuristic, &found) ==
                     CUBLAS_STATUS_SUCCESS &&
           found > 0;
      if (ok) {
        const float alpha = 1.0f, beta = 0.0f;
        auto launch = [&] {
          const auto st = cublasLtMatmul(lt, desc, &alpha, a.get(), adesc, b.get(), bdesc, &beta, c.get(), cdesc, c.get(), cdesc,
                                         &heuristic.algo, workspace.get(), kWorkspace, nullptr);
          if (st != CUBLAS_STATUS_SUCCESS) throw std::runtime_error("cublasLtMatmul (fp8) failed with status " + std::to_string(st));
        };
        const double t = k::median_time(launch, o.warmup, o.repeats);
        out.push_back({OpClass::gemm, "cublaslt_fp8", fmt::format("m={};n={};k={}", m, n, kk), DType::fp8, 2.0 * m * n * kk,
                       static_cast<double>(kk) * m + static_cast<double>(kk) * n + kBf16 * m * n, t});
      }
      if (pref) cublasLtMatmulPreferenceDestroy(pref);
      if (cdesc) cublasLtMatrixLayoutDestroy(cdesc);
      if (bdesc) cublasLtMatrixLayoutDestroy(bdesc);
      if (adesc) cublasLtMatrixLayoutDestroy(adesc);
      if (desc) cublasLtMatmulDescDestroy(desc);
    }
  cublasLtDestroy(lt);
}

void measure_attention(const Grid& g, const GridOptions& o, std::vector<Measurement>& out) {
  constexpr int heads = 32, kv_heads = 8, d = 128, block = 16;  // Llama-3-8B attention at TP 1
  for (int tokens : g.prefill_tokens)
    for (int ctx : g.prefill_context) {
      const size_t kv_tokens = static_cast<size_t>(ctx) + tokens;
      k::DeviceBuffer<__nv_bfloat16> q(static_cast<size_t>(tokens) * heads * d), kb(kv_tokens * kv_heads * d),
          vb(kv_tokens * kv_heads * d), outb(static_cast<size_t>(tokens) * heads * d);
      HETSIM_CUDA_CHECK(cudaMemset(q.get(), 0, q.size() * 2));
      HETSIM_CUDA_CHECK(cudaMemset(kb.get(), 0, kb.size() * 2));
      HETSIM_CUDA_CHECK(cudaMemset(vb.get(), 0, vb.size() * 2));
      const double pairs = static_cast<double>(tokens) * ctx + tokens * (tokens + 1.0) / 2;
      const double flops = 4.0 * d * heads * pairs;
      const double bytes = kBf16 * (2.0 * tokens * heads * d + 2.0 * kv_tokens * kv_heads * d);
      const double t = k::median_time(
          [&] { k::launch_attention_prefill(tokens, ctx, heads, kv_heads, d, q.get(), kb.get(), vb.get(), outb.get()); }, o.warmup,
          o.repeats);
      out.push_back({OpClass::attention_prefill, "prefill_attention", fmt::format("tokens={};context={}", tokens, ctx),
                     DType::bf16, flops, bytes, t});
    }
  for (int seqs : g.decode_seqs)
    for (int ctx : g.decode_context) {
      const int max_blocks = (ctx + block - 1) / block;
      const size_t blocks = static_cast<size_t>(seqs) * max_blocks;
      k::DeviceBuffer<__nv_bfloat16> q(static_cast<size_t>(seqs) * heads * d), kc(blocks * block * kv_heads * d),
          vc(blocks * block * kv_heads * d), outb(static_cast<size_t>(seqs) * heads * d);
      HETSIM_CUDA_CHECK(cudaMemset(kc.get(), 0, kc.size() * 2));
      HETSIM_CUDA_CHECK(cudaMemset(vc.get(), 0, vc.size() * 2));
      HETSIM_CUDA_CHECK(cudaMemset(q.get(), 0, q.size() * 2));
      // Blocks handed out in a scattered order, as a paged allocator would after churn.
      std::vector<std::int32_t> table(blocks), lens(static_cast<size_t>(seqs), ctx);
      for (size_t i = 0; i < blocks; ++i) table[i] = static_cast<std::int32_t>((i * 7919) % blocks);
      k::DeviceBuffer<std::int32_t> dt(blocks), dl(static_cast<size_t>(seqs));
      HETSIM_CUDA_CHECK(cudaMemcpy(dt.get(), table.data(), blocks * 4, cudaMemcpyHostToDevice));
      HETSIM_CUDA_CHECK(cudaMemcpy(dl.get(), lens.data(), lens.size() * 4, cudaMemcpyHostToDevice));
      const double flops = 4.0 * d * heads * static_cast<double>(seqs) * ctx;
      const double bytes = kBf16 * (2.0 * seqs * heads * d + 2.0 * static_cast<double>(seqs) * ctx * kv_heads * d);
      const double t = k::median_time(
          [&] {
            k::launch_paged_decode_attention(seqs, heads, kv_heads, d, block, max_blocks, q.get(), kc.get(), vc.get(), dt.get(),
                                             dl.get(), outb.get());
          },
          o.warmup, o.repeats);
      out.push_back({OpClass::attention_decode, "paged_decode_attention", fmt::format("seqs={};context={}", seqs, ctx),
                     DType::bf16, flops, bytes, t});
    }
}

void measure_elementwise(const Grid& g, const GridOptions& o, std::vector<Measurement>& out) {
  for (int rows : g.rows) {
    constexpr int hidden = 4096, inter = 14336;
    k::DeviceBuffer<__nv_bfloat16> x(static_cast<size_t>(rows) * hidden), w(hidden), y(static_cast<size_t>(rows) * hidden);
    k::DeviceBuffer<__nv_bfloat16> gu(static_cast<size_t>(rows) * 2 * inter), act(static_cast<size_t>(rows) * inter);
    HETSIM_CUDA_CHECK(cudaMemset(x.get(), 0, x.size() * 2));
    HETSIM_CUDA_CHECK(cudaMemset(w.get(), 0, w.size() * 2));
    HETSIM_CUDA_CHECK(cudaMemset(gu.get(), 0, gu.size() * 2));
    const double t_norm = k::median_time([&] { k::launch_rmsnorm(rows, hidden, x.get(), w.get(), 1e-5f, y.get()); }, o.warmup, o.repeats);
    out.push_back({OpClass::elementwise, "rmsnorm", fmt::format("rows={};dim={}", rows, hidden), DType::bf16,
                   4.0 * rows * hidden, kBf16 * (2.0 * rows * hidden + hidden), t_norm});
    const double t_act = k::median_time([&] { k::launch_silu_mul(rows, inter, gu.get(), act.get()); }, o.warmup, o.repeats);
    out.push_back({OpClass::elementwise, "silu_mul", fmt::format("rows={};dim={}", rows, inter), DType::bf16,
                   5.0 * rows * inter, kBf16 * 3.0 * rows * inter, t_act});
  }
  // Launch overhead: back-to-back empty kernels timed on the host, per launch.
  constexpr int launches = 2000;
  HETSIM_CUDA_CHECK(cudaDeviceSynchronize());
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < launches; ++i) k::launch_empty();
  HETSIM_CUDA_CHECK(cudaDeviceSynchronize());
  const double per = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / launches;
  out.push_back({OpClass::elementwise, "empty_kernel", "launches=2000", DType::bf16, 0, 0, per});
}

void measure_collectives(const GridOptions& o, std::vector<Measurement>& out) {
#ifdef HETSIM_HAVE_NCCL
  int n = 0;
  HETSIM_CUDA_CHECK(cudaGetDeviceCount(&n));
  if (n < 2) return;
  std::vector<ncclComm_t> comms(static_cast<size_t>(n));
  if (ncclCommInitAll(comms.data(), n, nullptr) != ncclSuccess) throw std::runtime_error("ncclCommInitAll failed");
  std::vector<std::unique_ptr<k::DeviceBuffer<__nv_bfloat16>>> bufs;
  std::vector<cudaStream_t> streams(static_cast<size_t>(n));
  const std::vector<size_t> sizes = o.quick ? std::vector<size_t>{1 << 16, 1 << 22, 1 << 26}
                                            : std::vector<size_t>{1 << 12, 1 << 14, 1 << 16, 1 << 18, 1 << 20, 1 << 22, 1 << 24, 1 << 26, 1 << 28};
  for (size_t bytes : sizes) {
    bufs.clear();
    for (int d = 0; d < n; ++d) {
      HETSIM_CUDA_CHECK(cudaSetDevice(d));
      bufs.push_back(std::make_unique<k::DeviceBuffer<__nv_bfloat16>>(bytes / 2));
      HETSIM_CUDA_CHECK(cudaStreamCreate(&streams[static_cast<size_t>(d)]));
    }
    auto all_reduce = [&] {
      ncclGroupStart();
      for (int d = 0; d < n; ++d)
        ncclAllReduce(bufs[static_cast<size_t>(d)]->get(), bufs[static_cast<size_t>(d)]->get(), bytes / 2, ncclBfloat16, ncclSum,
                      comms[static_cast<size_t>(d)], streams[static_cast<size_t>(d)]);
      ncclGroupEnd();
      for (int d = 0; d < n; ++d) cudaStreamSynchronize(streams[static_cast<size_t>(d)]);
    };
    for (int i = 0; i < o.warmup; ++i) all_reduce();
    std::vector<double> times;
    for (int i = 0; i < o.repeats; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      all_reduce();
      times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::nth_element(times.begin(), times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2), times.end());
    // Ring all-reduce bus traffic per rank, as the cost model counts it.
    const double bus = 2.0 * (n - 1) / n * static_cast<double>(bytes);
    out.push_back({OpClass::collective, "nccl_all_reduce", fmt::format("bytes={};ranks={}", bytes, n), DType::bf16, 0, bus,
                   times[times.size() / 2]});
    for (int d = 0; d < n; ++d) cudaStreamDestroy(streams[static_cast<size_t>(d)]);
  }
  for (auto c : comms) ncclCommDestroy(c);
  HETSIM_CUDA_CHECK(cudaSetDevice(0));
#else
  (void)o;
  (void)out;
#endif
}

}  // namespace

bool gpu_available(std::string& why_not) {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess || n == 0) {
    why_not = err != cudaSuccess ? std::string("no usable CUDA device: ") + cudaGetErrorString(err) : "no CUDA device found";
    return false;
  }
  return true;
}

std::vector<Measurement> measure_all(const GridOptions& o, GpuInfo& info) {
  std::string why;
  if (!gpu_available(why)) throw InputError(why);
  HETSIM_CUDA_CHECK(cudaSetDevice(0));
  HETSIM_CUDA_CHECK(cudaGetDeviceCount(&info.devices));
  cudaDeviceProp p{};
  HETSIM_CUDA_CHECK(cudaGetDeviceProperties(&p, 0));
  info.name = p.name;
  info.details = describe_gpu(0);
  const Grid grid = make_grid(o.quick);
  std::vector<Measurement> out;
  measure_gemms(grid, o, out);
  measure_fp8_gemms(grid, o, out);
  measure_attention(grid, o, out);
  measure_elementwise(grid, o, out);
  measure_collectives(o, out);
  return out;
}

std::vector<CopyMeasurement> measure_copies(const GridOptions& o) {
  std::vector<CopyMeasurement> out;
  std::vector<size_t> sizes;
  for (size_t b = size_t{4} << 10; b <= (size_t{1} << 30); b *= o.quick ? 16 : 4) sizes.push_back(b);
  void* host = nullptr;
  HETSIM_CUDA_CHECK(cudaMallocHost(&host, sizes.back()));  // pinned, so copies run at DMA speed
  k::DeviceBuffer<unsigned char> dev_a(sizes.back()), dev_b(sizes.back());
  for (size_t bytes : sizes) {
    struct Direction {
      const char* name;
      void* dst;
      const void* src;
      cudaMemcpyKind kind;
    };
    for (const Direction d : {Direction{"h2d", dev_a.get(), host, cudaMemcpyHostToDevice},
                              Direction{"d2h", host, dev_a.get(), cudaMemcpyDeviceToHost},
                              Direction{"d2d", dev_b.get(), dev_a.get(), cudaMemcpyDeviceToDevice}}) {
      const double t = k::median_time([&] { HETSIM_CUDA_CHECK(cudaMemcpyAsync(d.dst, d.src, bytes, d.kind)); }, o.warmup,
                                      bytes >= (size_t{256} << 20) ? 5 : o.repeats);
      out.push_back({d.name, static_cast<double>(bytes), t});
    }
  }
  cudaFreeHost(host);
  return out;
}

}  // namespace hetsim::calibrate
