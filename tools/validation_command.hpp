#pragma once
// `hetsim validation`: runs hetsim on every case of the validation suite (validation/cases.yaml:
// public measurements with their exact configuration and source) and writes the error table.
// Op and collective cases are priced by the cost model in-process, and memory cases (KV capacity and
// the terms before it) read the KV manager's split of a scenario built in-process; single-request
// and loaded-run cases run a scenario each (one child process per run: SimGrid allows one engine per
// process).
#include <string>

namespace hetsim::tools {

struct ValidationOptions {
  std::string cases = "validation/cases.yaml";
  std::string out = "validation/results.md";  ///< error table (Markdown); a CSV is written beside it
  std::string recorded = "validation/recorded.csv";  ///< each case's recorded error
  bool check = false;   ///< exit 1 when a case's error grew beyond its recorded error + slack
  bool record = false;  ///< rewrite `recorded` with this run's errors
  int jobs = 2;
};

int run_validation(const ValidationOptions& options);

}  // namespace hetsim::tools
