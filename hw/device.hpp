#pragma once
// A compute device as the simulator sees it: peak rates per dtype, its memory, its links, and the
// efficiencies that turn peaks into achieved rates. Loaded from hw/catalog/*.yaml (a preset), with
// scenario overrides layered on top.
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "sim/core/config.hpp"
#include "sim/core/op.hpp"

namespace hetsim::hw {

/// Achieved fraction of peak for one op class, as a function of the work in one kernel:
///   e(s) = e_max * s / (s + s_half)
/// (s = FLOPs for compute, bytes for memory). Small kernels reach a small fraction; large ones
/// approach e_max. This is the same as an affine time t = (s + s_half) / (peak * e_max), which is
/// what calibrate/ fits to measured kernels. s_half = 0 gives a constant efficiency.
struct Efficiency {
  double compute = 1.0;       ///< e_max of peak FLOP/s
  double memory = 1.0;        ///< e_max of memory (or, for collectives, link) bandwidth
  double compute_half = 0.0;  ///< FLOPs at which compute efficiency is half of e_max
  double memory_half = 0.0;   ///< bytes at which memory efficiency is half of e_max
  std::string source;         ///< "catalog default (uncalibrated)" or "profile NAME"
};

/// A point-to-point link class of a device (NVLink, PCIe, ...).
struct LinkSpec {
  std::string kind;      ///< pcie | nvlink | nvlink-c2c | infinity-fabric | ici (TPU) | hccs (Ascend) | upi
                         ///< (Xeon socket-socket) | shared-memory (SoC) | memory-bus (PIM: the host's memory interface)
  double bandwidth = 0;  ///< bytes/s per direction
  double latency = 0;    ///< seconds per hop
};

/// Kinds of compute device (soc: a phone/laptop SoC whose CPU, GPU and NPU share one memory). The roofline is the same; what differs is where operands live
/// (NPU on-chip SRAM), which bandwidth feeds memory-bound work (PIM's internal bandwidth) and
/// which op classes the device can run at all.
enum class DeviceKind { gpu, cpu, npu, pim, soc };

struct Device {
  std::string name;                  ///< catalog name, e.g. "h100-sxm5-80gb"
  std::string kind_name;             ///< "gpu" | "cpu" | "npu" | "pim"
  DeviceKind kind = DeviceKind::gpu;
  std::array<double, kDTypes.size()> peak_flops{};  ///< FLOP/s by DType; 0 = unsupported
  std::string memory_kind;           ///< e.g. "HBM3"
  double memory_capacity = 0;        ///< bytes
  double memory_bandwidth = 0;       ///< bytes/s
  LinkSpec scale_up;                 ///< intra-node GPU-GPU link (NVLink)
  LinkSpec host;                     ///< host link (PCIe)
  double kernel_launch_overhead = 0; ///< seconds added per kernel launch
  std::array<Efficiency, kNumOpClasses> efficiency{};
  std::string efficiency_source;     ///< summary of the sources of `efficiency`
  double cost_per_hour = 0;          ///< rental price per device-hour in USD; 0 = unknown
  double sram_capacity = 0;          ///< NPU on-chip SRAM, bytes (0: none)
  double sram_bandwidth = 0;         ///< NPU on-chip SRAM bandwidth, bytes/s
  double internal_bandwidth_multiple = 1;  ///< PIM: bandwidth inside the memory / memory.bandwidth
  double storage_capacity = 0;         ///< local flash storage (UFS/NVMe), bytes; 0 = none
  double storage_read_bandwidth = 0;   ///< sequential read, bytes/s
  std::array<bool, kNumOpClasses> runs{};  ///< op classes the device can execute
  std::vector<std::string> engines;  ///< SoC: its compute engines (cpu, gpu, npu), sharing the memory
  std::string engine;                ///< SoC: the engine running the model (its peaks are peak_flops)

  /// Whether this device can execute ops of class `c` (policies ask before placing work here).
  bool can_run(OpClass c) const { return runs[static_cast<std::size_t>(c)]; }

  double peak(DType d) const { return peak_flops[static_cast<std::size_t>(d)]; }
  const Efficiency& eff(OpClass c) const { return efficiency[static_cast<std::size_t>(c)]; }
};

/// Reads a device from a (possibly layered) config node; validates every value. A `profile: NAME`
/// key applies hw/profiles/NAME.yaml over the catalog efficiencies.
Device parse_device(const config::Node& node);
/// Which source priced each op class, grouped ("gemm, ...: profile X; collective: catalog default").
std::string describe_sources(const Device& device);

}  // namespace hetsim::hw
