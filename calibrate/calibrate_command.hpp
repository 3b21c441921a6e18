#pragma once
// `hetsim calibrate`: measure kernels on the local GPU (or refit a raw CSV), fit per-op-class
// efficiency curves, write hw/profiles/NAME.yaml with NAME.raw.csv and NAME.report.md beside it.
#include <string>

namespace hetsim::calibrate {

struct CalibrateOptions {
  std::string out;      ///< profile path, e.g. hw/profiles/h100-sxm5-80gb.yaml
  std::string device;   ///< catalog device whose peaks the efficiencies are fractions of
  std::string refit;    ///< raw CSV to refit instead of measuring
  bool quick = false;
};

int run_calibrate(const CalibrateOptions& options);

}  // namespace hetsim::calibrate
