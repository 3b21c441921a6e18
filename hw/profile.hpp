#pragma once
// Calibrated efficiency profiles (hw/profiles/NAME.yaml), written by `hetsim calibrate` from real
// kernel measurements and referenced from a device entry with `profile: NAME`. Op classes the
// profile measured replace the catalog defaults; the others keep them, and the run summary says
// which source priced each class.
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "hw/device.hpp"
#include "sim/core/config.hpp"

namespace hetsim::hw {

struct ClassFit {
  Efficiency efficiency;          ///< fitted curves (compute and/or memory)
  bool has_compute = false;       ///< the measurements identified the compute regime
  bool has_memory = false;        ///< ... and the memory regime
  double held_out_error = 0;      ///< median |predicted - measured| / measured on held-out points
  /// With the profile's per-op curves in place for the ops that have one (held out the same way).
  std::optional<double> held_out_error_with_ops;
  std::string held_out;           ///< how points were held out ("leave one of 8 groups out", ...)
  std::size_t points = 0;         ///< measurements used
};

/// A measured copy path: t = bytes / bandwidth + latency.
struct CopyFit {
  double bandwidth = 0;       ///< bytes/s
  double latency = 0;         ///< seconds
  double held_out_error = 0;  ///< median relative error on held-out sizes
};

struct Profile {
  std::string name;
  std::string device;             ///< catalog device it calibrates
  std::string gpu;                ///< the GPU's own name, as the driver reports it
  std::string measured;           ///< when and how (driver, clocks, hetsim version)
  std::string raw;                ///< raw measurement CSV, relative to the profile
  std::string command;            ///< imported profiles: the `hetsim calibrate` arguments that rebuild it
  std::optional<double> launch_overhead;  ///< seconds, from timing empty kernels
  std::array<std::optional<ClassFit>, kNumOpClasses> classes;
  std::optional<CopyFit> h2d, d2h, d2d;  ///< pinned host <-> device and device-to-device copies
  std::vector<MeasuredCollective> collectives;  ///< measured collectives by kind and group size
  /// Curves of single ops (graph-builder op names), fitted to that op's measurements alone.
  struct OpFit {
    std::string op;
    OpClass cls = OpClass::elementwise;
    ClassFit fit;
  };
  std::vector<OpFit> ops;
};

/// Reads a profile from its config node; validates every value.
Profile parse_profile(const config::Node& node);
/// Writes a profile as YAML text (the inverse of parse_profile).
std::string profile_yaml(const Profile& profile);
/// Replaces the device's efficiencies (and launch overhead, and host-link bandwidth and latency
/// from the H2D/D2H copies) with what the profile measured.
void apply_profile(const Profile& profile, Device& device);

}  // namespace hetsim::hw
