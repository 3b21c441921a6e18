#pragma once
// `hetsim calibrate`: measure kernels on the local GPU (or refit a raw CSV, or import published
// measurements), fit per-op-class efficiency curves, write hw/profiles/NAME.yaml with NAME.raw.csv
// (measured here) and NAME.report.md beside it.
#include <string>
#include <vector>

namespace hetsim::calibrate {

struct CalibrateOptions {
  std::string out;      ///< profile path, e.g. hw/profiles/h100-sxm5-80gb.yaml
  std::string device;   ///< catalog device whose peaks the efficiencies are fractions of
  std::string refit;    ///< raw CSV to refit instead of measuring
  bool quick = false;
  bool blend = false;  ///< allow a blended roofline (always on for --import)
  /// Import published measurements instead of measuring: "vidur" (microsoft/vidur profiling data).
  std::string import_format;
  std::string ops;                       ///< folder of per-model op profiles (Vidur: compute/GPU)
  std::vector<std::string> collectives;  ///< collective measurement files (Vidur: network/SETUP.COLL.csv)
  std::vector<std::string> exclude;      ///< groups (models) kept out of the fit, for validation
};

int run_calibrate(const CalibrateOptions& options);

}  // namespace hetsim::calibrate
