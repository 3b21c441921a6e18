#pragma once
// Search helpers on top of a sweep: for each configuration (point of the sweep's axes), the
// largest value of the searched key (the request rate) at which every SLO target still holds,
// found by bisection; and, given a target rate, the cheapest configuration that reaches it.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sweep/point_runner.hpp"
#include "sweep/spec.hpp"

namespace hetsim::sweep {

struct SearchResult {
  std::string config;          ///< point name of the configuration
  std::optional<double> max_rate;
  int probes = 0;
  std::string status;          ///< ok | below_range (lo fails) | above_range (hi passes) | failed
  std::optional<double> cost_per_hour;
};

/// Whether the finished run in `folder` meets every target (and rejected no request).
bool meets_slo(const std::string& folder, const std::vector<SloTarget>& targets);

/// Bisection on one configuration. `probe(rate)` returns the run folder of that rate (running it
/// if needed) or nullopt if the run failed.
SearchResult bisect(const Search& search, const std::string& config,
                    const std::function<std::optional<std::string>(double rate, int index)>& probe);

/// Writes max_rate.csv (and cheapest.json when target_rate is set); returns the printed report.
std::string write_search_results(const Spec& spec, const std::vector<SearchResult>& results, const std::string& out_dir);

}  // namespace hetsim::sweep
