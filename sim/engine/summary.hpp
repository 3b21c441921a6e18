#pragma once
// Run-level metrics from the recorded requests and steps: counts, throughput, latency percentiles,
// goodput under the scenario's SLOs, KV utilization, and the Little's-law self-check.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sim/engine/scenario.hpp"

namespace hetsim::sim {

class Recorder;

struct Stats {
  std::size_t count = 0;
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
};
/// Mean and linearly interpolated percentiles (numpy's default); zeros when empty.
Stats describe(std::vector<double> values);

struct Summary {
  std::string scenario, model, fleet;
  std::uint64_t seed = 0;
  std::size_t requests = 0, completed = 0, rejected = 0;
  std::map<std::string, std::size_t> rejected_by_reason;
  std::int64_t preemptions = 0, steps = 0;
  /// KV moved by swap preemption over the nodes' links: tokens, bytes (all devices) and step time
  /// spent waiting for the copies (summed over replicas).
  std::int64_t swap_out_tokens = 0, swap_in_tokens = 0;
  double swap_bytes = 0, transfer_time = 0;
  bool moves_kv = false;
  double duration = 0;  ///< simulated seconds until the last request finished
  double request_throughput = 0, output_token_throughput = 0, total_token_throughput = 0;
  Stats ttft, tpot, e2e, queue;
  bool has_slo = false;
  double goodput = 0, slo_attainment = 0;  ///< requests/s meeting every SLO; fraction of all requests
  double kv_utilization_mean = 0, kv_utilization_peak = 0;
  double mean_in_system = 0, arrival_rate = 0, mean_sojourn = 0;  ///< Little's law: L vs lambda * W
  std::vector<std::string> cost_model_sources;
  int devices = 0;                      ///< accelerators in the fleet
  std::optional<double> cost_per_hour;  ///< fleet rental cost, if every device's price is known
  struct Replica {
    std::string device;
    int tensor_parallel = 1;
    std::int64_t completed = 0, steps = 0, preemptions = 0, prefill_tokens = 0, decode_tokens = 0, kv_blocks_total = 0;
    std::int64_t swap_out_tokens = 0, swap_in_tokens = 0;
    double transfer_time = 0;
    double busy_fraction = 0, kv_utilization_mean = 0, kv_utilization_peak = 0;
  };
  std::vector<Replica> replicas;
  /// Per pool of the cluster (one entry per distinct device / TP group behind the router).
  struct Pool {
    std::string name;
    std::string device, device_kind;  ///< catalog name and kind (gpu, cpu, npu, soc)
    int replicas = 0, gpus = 0;
    std::size_t completed = 0;
    double request_throughput = 0, busy_fraction = 0, kv_utilization_mean = 0;
    Stats ttft, tpot, e2e;
  };
  std::vector<Pool> pools;
};

Summary summarize(const Scenario& scenario, const Recorder& recorder);
/// summary.json text (stable key order; deterministic).
std::string summary_json(const Summary& summary);
/// The table `hetsim run` prints.
std::string summary_table(const Summary& summary, const Slo& slo);

}  // namespace hetsim::sim
