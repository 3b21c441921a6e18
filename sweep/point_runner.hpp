#pragma once
// Runs single simulations of a sweep's base scenario with overrides, each in its own folder and
// its own process, and reuses a folder that already holds a finished run with the same overrides
// (so a killed sweep resumes where it stopped). A run is finished when its summary.json exists:
// hetsim renames it into place last, after every other result file.
#include <set>
#include <string>
#include <vector>

#include "sim/scenario/scenario.hpp"
#include "sweep/spec.hpp"

namespace hetsim::sweep {

struct Outcome {
  bool ok = false;
  bool reused = false;
  double seconds = 0;
  std::string error;  ///< last line of the run's log when it failed
  bool infeasible = false;  ///< a training plan that does not fit (not run; `error` says why)
};

/// What validating one run gives: its SLO, its effective configuration (resolved.yaml's text) and
/// the files its scenario reads.
struct Validation {
  sim::Slo slo;
  std::string resolved;
  std::set<std::string> files;
  std::string infeasible;  ///< a training plan that does not fit: why (the point is recorded, not run)
};

class PointRunner {
 public:
  PointRunner(const Spec& spec, std::string out_dir);

  /// The spec's fixed overrides followed by `params`.
  std::vector<Assignment> with_fixed(const std::vector<Assignment>& params) const;
  /// Builds the scenario in-process (nothing runs): bad values are InputErrors that name the sweep
  /// file's line.
  Validation validate(const std::vector<Assignment>& assignments) const;
  /// Folder of the run named `relative` (e.g. "points/p0003").
  std::string folder(const std::string& relative) const;
  /// True if `relative` holds a finished run of exactly `assignments` (or its infeasible.txt: a
  /// training plan that does not fit); InputError if it holds a run of other overrides (the spec
  /// changed under an existing output folder).
  bool finished(const std::string& relative, const std::vector<Assignment>& assignments) const;
  /// Runs `relative` unless finished. A training plan that does not fit is not run: its folder
  /// gets infeasible.txt (the reason) instead of results.
  Outcome run(const std::string& relative, const std::vector<Assignment>& assignments) const;

 private:
  const Spec& spec_;
  std::string out_dir_;
  std::string exe_;
};

}  // namespace hetsim::sweep
