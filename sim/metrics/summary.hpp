#pragma once
// Run-level metrics from the recorder: every declared instance, pool and run metric, computed
// (aggregates generically from their declaration, the rest by the code below), and the writers
// generated from the declarations: summary.json, the printed table and metrics_schema.json.
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/core/metric.hpp"
#include "sim/metrics/distribution.hpp"
#include "sim/metrics/recorder.hpp"

namespace hetsim::sim {

/// One metric's value: absent (written as null), a number, text, JSON, or a distribution.
using Value = std::variant<std::monostate, double, std::int64_t, std::string, nlohmann::ordered_json, Stats>;

struct Summary {
  RunInfo info;
  metrics::ActiveSet active;
  std::vector<Value> run;                      ///< by metric index
  std::vector<std::vector<Value>> instances;   ///< [instance][metric index]
  std::vector<std::vector<Value>> pools;       ///< [pool][metric index], pools in order of first appearance

  const Value& get(metrics::MetricId id) const { return run.at(id.index); }
  /// A numeric run value (0 if absent).
  double number(metrics::MetricId id) const;
  double number(const std::vector<Value>& scope_values, metrics::MetricId id) const;
};

Summary summarize(const Recorder& recorder);
/// summary.json text (keys in declaration order; deterministic).
std::string summary_json(const Summary& summary);
/// The table `hetsim run` prints.
std::string summary_table(const Summary& summary);
/// metrics_schema.json: the run's metrics and where each appears, for the report script.
std::string metrics_schema_json(const metrics::ActiveSet& active);
/// Summarizes and adds summary.json and metrics_schema.json to the recorder's outputs.
Summary write_summary(Recorder& recorder);

}  // namespace hetsim::sim
