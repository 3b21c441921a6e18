#pragma once
// The calibration grid runner inside hetsim-kernels: times every op class over its shape grid on
// GPU 0. Only built with the CUDA toolkit; `hetsim calibrate` runs hetsim-kernels as a child.
#include <string>
#include <vector>

#include "kernels/measurement.hpp"

namespace hetsim::calibrate {

struct GridOptions {
  bool quick = false;   ///< a small grid that finishes in minutes
  int warmup = 3;       ///< untimed launches before timing
  int repeats = 11;     ///< timed launches; the median is kept
};

struct GpuInfo {
  std::string name;     ///< as the driver reports it
  std::string details;  ///< compute capability, clocks, driver and runtime versions
  int devices = 0;
};

/// One timed copy (cudaMemcpyAsync; pinned host memory for H2D/D2H).
struct CopyMeasurement {
  std::string direction;  ///< h2d | d2h | d2d
  double bytes = 0;
  double seconds = 0;
};

/// Times copies of 4 KiB .. 1 GiB in each direction on GPU 0.
std::vector<CopyMeasurement> measure_copies(const GridOptions& options);

/// True if this build has the CUDA kernels and a CUDA device is visible.
bool gpu_available(std::string& why_not);
/// Measures every op class; `info` describes GPU 0. Throws InputError when gpu_available is false.
std::vector<Measurement> measure_all(const GridOptions& options, GpuInfo& info);

}  // namespace hetsim::calibrate
