#pragma once
// A compute device as the simulator sees it: peak rates per dtype, its memory, its links, and the
// efficiencies that turn peaks into achieved rates. Loaded from hw/catalog/*.yaml (a preset), with
// scenario overrides layered on top.
#include <array>
#include <optional>
#include <string>

#include "sim/core/config.hpp"
#include "sim/core/op.hpp"

namespace hetsim::hw {

/// Achieved fraction of peak for one op class.
struct Efficiency {
  double compute = 1.0;  ///< of peak FLOP/s
  double memory = 1.0;   ///< of memory (or, for collectives, link) bandwidth
};

/// A point-to-point link class of a device (NVLink, PCIe, ...).
struct LinkSpec {
  double bandwidth = 0;  ///< bytes/s per direction
  double latency = 0;    ///< seconds per hop
};

struct Device {
  std::string name;                  ///< catalog name, e.g. "h100-sxm5-80gb"
  std::string kind;                  ///< "gpu" (more kinds arrive with the heterogeneous-hardware work)
  std::array<double, kDTypes.size()> peak_flops{};  ///< FLOP/s by DType; 0 = unsupported
  std::string memory_kind;           ///< e.g. "HBM3"
  double memory_capacity = 0;        ///< bytes
  double memory_bandwidth = 0;       ///< bytes/s
  LinkSpec scale_up;                 ///< intra-node GPU-GPU link (NVLink)
  LinkSpec host;                     ///< host link (PCIe)
  double kernel_launch_overhead = 0; ///< seconds added per kernel launch
  std::array<Efficiency, kNumOpClasses> efficiency{};
  std::string efficiency_source;     ///< "catalog defaults (uncalibrated)" or a profile name
  double cost_per_hour = 0;          ///< rental price per device-hour in USD; 0 = unknown

  double peak(DType d) const { return peak_flops[static_cast<std::size_t>(d)]; }
  const Efficiency& eff(OpClass c) const { return efficiency[static_cast<std::size_t>(c)]; }
};

/// Reads a device from a (possibly layered) config node; validates every value.
Device parse_device(const config::Node& node);

}  // namespace hetsim::hw
