#pragma once
// A sweep: a base scenario plus axes over key paths, expanded into points.
//
//   base: ../scenarios/quickstart.yaml       # relative to this file
//   mode: grid                               # grid (cartesian product) | zip (i-th values together)
//   axes:
//     workload.arrival.rate: [2, 4, 8]
//     cluster.replicas: range(1, 5)          # Python-style: 1, 2, 3, 4
//     policies.scheduler.impl: [vllm, sarathi]
//   set: {workload.num_requests: 200}        # fixed overrides for every point
//   sample: {count: 4, seed: 1}              # optional: a random subset of the points
//   search:                                  # optional: max-rate bisection per configuration
//     axis: workload.arrival.rate
//     lo: 0.5
//     hi: 64
//     tolerance: 0.05                        # relative width of the final bracket
//     slo: {ttft_p90: 1 s, tpot_p90: 50 ms}  # <metric>_<p50|p90|p99|mean>
//     target_rate: 8                         # optional: report the cheapest configuration reaching it
//   best: {maximize: train_tokens_per_s}     # optional: report the point with the highest (or, with
//                                            # minimize:, lowest) value of a points.csv column
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sim/core/config.hpp"

namespace hetsim::sweep {

/// One override of a point: key path, value text, and where it was written (for messages).
struct Assignment {
  std::string key;
  std::string value;
  std::string origin;  ///< e.g. "sweep.yaml:7: axes.workload.arrival.rate[2]"
};

struct Axis {
  std::string key;
  std::vector<std::string> values;
  std::vector<std::string> origins;  ///< per value
};

struct Point {
  std::string name;                 ///< "p0003"
  std::vector<Assignment> params;   ///< one per axis, in axis order
};

/// Percentile targets a configuration must meet.
struct SloTarget {
  std::string metric;      ///< ttft | tpot | e2e | queue; or attainment (no statistic)
  std::string statistic;   ///< p50 | p90 | p99 | mean
  double limit = 0;        ///< seconds; for attainment the least share of requests meeting the scenario's slo
  std::string label;       ///< as written, e.g. "ttft_p90"
};

struct Search {
  std::string axis;
  double lo = 0, hi = 0, tolerance = 0.05;
  std::vector<SloTarget> slo;
  std::optional<double> target_rate;
  std::string origin;
};

/// The point to report: the one with the highest (or lowest) value of a sweep column among the
/// points that ran ok (e.g. the training plan with the most tokens/s that fits).
struct Objective {
  std::string column;  ///< a points.csv metric column, e.g. train_tokens_per_s
  bool maximize = true;
  std::string origin;
};

struct Spec {
  std::string file;
  std::string base;                 ///< scenario path, resolved
  std::string mode;
  std::vector<Axis> axes;
  std::vector<Assignment> fixed;    ///< `set:` overrides
  std::optional<Search> search;
  std::optional<Objective> best;
  std::vector<Point> points;        ///< expanded (and sampled) points

  /// Loads, validates and expands `path`.
  static Spec load(const std::string& path);
};

/// Expands "range(start, stop[, step])" (Python semantics, integers or decimals) into value texts;
/// nullopt if `text` is not a range expression. Throws InputError (without location) if malformed.
std::optional<std::vector<std::string>> expand_range(const std::string& text);

}  // namespace hetsim::sweep
