#pragma once
// What elastic capacity did over a run, derived from the recorder's scaling log alone: how many
// instances were provisioned (paid for) over time, the cold starts, and scaling.csv.
#include <string>
#include <vector>

#include "sim/metrics/distribution.hpp"
#include "sim/metrics/records.hpp"
#include "sim/metrics/run_info.hpp"

namespace hetsim::sim {

struct ScalingTotals {
  std::int64_t starts = 0, readies = 0, drains = 0, revives = 0, stops = 0;
  Distribution cold_start_s;  ///< start to ready, per cold start that finished
  double weight_bytes = 0;    ///< loaded by the cold starts that finished
  /// Per instance: seconds provisioned (every state but stopped) from 0 to the end of the run.
  std::vector<double> provisioned_s;
  double device_hours = 0;     ///< provisioned seconds x TP degree x device share / 3600, all instances
  double mean_instances = 0;   ///< time-average provisioned instances
  int peak_instances = 0;      ///< most provisioned at once
  int least_instances = 0;     ///< fewest provisioned at once (after the events at time 0)
};

/// Every instance is provisioned from time 0 until a stop, again from a start; the log is in
/// time order. `info` gives the instances (TP degrees); `end_time` closes the last intervals.
ScalingTotals scaling_totals(const std::vector<ScalingRecord>& log, const RunInfo& info, double end_time);

/// scaling.csv: one row per event (time, instance, pool, event, the instances provisioned and
/// active after it, the cold start's or drain's seconds, the weight bytes loaded).
std::string scaling_csv(const std::vector<ScalingRecord>& log, const RunInfo& info);

}  // namespace hetsim::sim
