#pragma once
// Metric declarations: the one place a metric is described. A declaration names the metric, its
// unit, scope and aggregation, says where it appears (steps.csv column, summary.json key, printed
// table, sweep points.csv column) and carries a one-line description. Writers in sim/metrics
// generate every output and the report's schema (metrics_schema.json) from the declarations;
// components only emit values against the handle a declaration returns.
//
//   // one declaration (any .cpp, at namespace scope) ...
//   const metrics::StepMetric kSwapOut = metrics::declare_step({
//       .name = "swap_out_tokens", .unit = "tokens", .type = metrics::Type::integer,
//       .description = "KV tokens copied device -> swap tier before the step",
//       .instance = {metrics::Agg::sum, "swap_out_tokens"}, .only_with = "kv_swap"});
//   // ... and one emit per step (a store into a flat array: no lookup on the hot path)
//   row.set(kSwapOut, copies.out_tokens);
//
// Conditional metrics: a declaration with `only_with` exists in a run only when the run has that
// feature (e.g. "kv_swap" when a preemption policy moves KV, "slo" when the scenario sets SLOs):
// its column, keys and table fragments are then absent, and its emits land in an unused slot.
// Declarations are static and self-registering (like policies); declare them at namespace scope so
// that they are complete before any run starts. Order of outputs = order of declaration (within one
// file; across files, static initialization order, i.e. link order).
#include <cstdint>
#include <string>
#include <vector>

namespace hetsim::metrics {

/// What one value of the metric describes.
enum class Scope : std::uint8_t { request, step, instance, pool, run };
/// How values are represented and written: integer counts, reals, text, or a JSON value.
enum class Type : std::uint8_t { integer, real, text, json };
/// How a metric is obtained from the metric it aggregates (`from`, one scope below).
enum class Agg : std::uint8_t {
  value,         ///< no aggregation: set directly by the code that knows it
  sum,           ///< sum over steps (instance) or instances (pool, run)
  max,           ///< maximum over steps or instances
  mean,          ///< arithmetic mean over instances (pool, run)
  time_mean,     ///< sum of value x step duration over the run's duration (idle time counts as 0)
  distribution,  ///< count, mean, p50, p90, p99 and max over requests (run, pool)
};

const char* to_string(Scope s);
const char* to_string(Type t);
const char* to_string(Agg a);

/// A fragment of the printed table: `format` (fmt syntax, `{}` = the value x `scale`, named
/// `{other_metric}` = another run metric, `{slo}` = the SLO text) appended to table line `line`.
/// Distribution metrics name their row of the latency block instead.
struct TableFragment {
  std::string line;
  std::string format;
  double scale = 1;
};

/// Shortcut of a step metric's declaration: the per-instance aggregate declared with it.
struct InstanceAggregate {
  Agg agg = Agg::value;  ///< value = none
  std::string key;       ///< key in summary.json's "replicas" entries (also the aggregate's name)
  std::string per;       ///< instance metric to divide by (a capacity: utilization)
};

struct Metric {
  std::string name;  ///< unique within its scope, snake_case
  Scope scope = Scope::run;
  Type type = Type::real;
  std::string unit;  ///< SI or a count ("s", "B", "tokens", "requests/s", "1" = fraction)
  std::string description;
  Agg agg = Agg::value;
  std::string from;    ///< name of the aggregated metric (step for instance; instance for pool and
                       ///< run; request for distributions)
  std::string per;     ///< instance metric to divide by (utilization of a capacity)
  std::string column;  ///< steps.csv column (step scope; empty: kept in memory only)
  /// summary.json key, dotted for nesting: from the root for run scope, inside each "replicas" /
  /// "pools" entry for instance / pool scope; empty: not written.
  std::string key;
  std::string sweep;  ///< points.csv column (run scope; distributions: prefix of _mean, _p50, _p90, _p99)
  TableFragment table;
  std::string only_with;        ///< feature a run must have for the metric to exist; empty: always
  bool timeline = false;        ///< step scope: an argument of the step's Chrome-trace event
  InstanceAggregate instance;   ///< step scope: declare its per-instance aggregate in the same breath
  std::string at_most;          ///< step scope: a step metric this one may never exceed in a row (checked)
  /// step scope: how step_windows.csv sums it up per time window (see window_column): sum, max, or
  /// time_mean (weighted by step duration, over the window's steps).
  Agg window = Agg::sum;
};

/// The step_windows.csv column of a step metric: its steps.csv column, with "_max" or "_mean"
/// appended unless it is summed.
std::string window_column(const Metric& m);

/// Handle of any declared metric (index into catalog().all()).
struct MetricId {
  std::uint32_t index = UINT32_MAX;
};
/// Handle of a step metric: its slot in a step row's flat array of values.
struct StepMetric {
  std::uint32_t index = UINT32_MAX;
  std::uint32_t slot = 0;
  operator MetricId() const { return {index}; }
};

/// Every metric declared in the program, in declaration order.
class Catalog {
 public:
  MetricId add(Metric m);
  const std::vector<Metric>& all() const { return metrics_; }
  const Metric& operator[](MetricId id) const { return metrics_.at(id.index); }
  /// Index of `name` within `scope`; UINT32_MAX if none.
  std::uint32_t find(Scope scope, const std::string& name) const;
  /// Step metrics' slots: slot -> metric index.
  const std::vector<std::uint32_t>& step_slots() const { return step_slots_; }
  std::uint32_t slot_of(MetricId id) const;
  /// Table lines in the order they are printed (declare_table_line, then first use).
  const std::vector<std::string>& table_lines() const { return table_lines_; }
  void add_table_line(const std::string& line);

 private:
  std::vector<Metric> metrics_;
  std::vector<std::uint32_t> step_slots_;
  std::vector<std::string> table_lines_;
};

/// The program's catalog (function-local static: safe from static-initialization order).
Catalog& catalog();

/// Declares a metric; std::logic_error at startup for a duplicate name or a bad reference.
MetricId declare(Metric m);
/// Declares a step metric (and its per-instance aggregate, if `m.instance` names one).
StepMetric declare_step(Metric m);
/// Fixes the position of a table line before metrics use it (lines otherwise follow first use).
bool declare_table_line(const std::string& line);

/// The metrics present in one run: those without `only_with` plus those whose feature it has.
class ActiveSet {
 public:
  ActiveSet() = default;
  explicit ActiveSet(const std::vector<std::string>& features);
  bool operator()(MetricId id) const { return id.index < on_.size() && on_[id.index]; }
  bool has_feature(const std::string& f) const;
  const std::vector<std::string>& features() const { return features_; }

 private:
  std::vector<std::string> features_;
  std::vector<char> on_;
};

}  // namespace hetsim::metrics
