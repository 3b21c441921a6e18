#pragma once
// A training run's failure projection (sim/training/resilience) as results: its summary.json
// section, failures.csv (trial 0's interruptions), failures_timeline.json (trial 0 as a Perfetto
// track) and the printed lines. Plain data in, files out.
#include <nlohmann/json.hpp>

#include <string>

#include "sim/training/resilience.hpp"

namespace hetsim::sim {

/// summary.json `training.resilience`: inputs, goodput and days with their 95% intervals, GPU-hours
/// by bucket and by cause, the interval sweep.
nlohmann::ordered_json resilience_json(const training::ResilienceReport& r, int gpus);
/// Writes failures.csv and failures_timeline.json into `dir`.
void write_failures(const std::string& dir, const training::ResilienceReport& r);
/// The printed `failures`, `goodput` and `lost` lines.
std::string resilience_summary_lines(const training::ResilienceReport& r, int gpus, double train_tokens);

}  // namespace hetsim::sim
