#pragma once
// What the metrics code needs to know about a run, as plain data (built from the scenario by the
// engine, so sim/metrics depends on neither the scenario nor SimGrid).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hetsim::sim {

struct Slo {
  std::optional<double> ttft, tpot, e2e;  ///< seconds; a request meets the SLO if it meets all given
  bool any() const { return ttft || tpot || e2e; }
};

/// What a run writes about its model steps: nothing, step_windows.csv (each instance's steps summed
/// up per window of simulated time; the default, cheap on long runs) or steps.csv (a row per step).
enum class StepOutput : std::uint8_t { none, windows, full };

struct OutputOptions {
  StepOutput steps = StepOutput::windows;
  double step_window = 1.0;  ///< seconds of simulated time per step_windows.csv row
  bool timeline = false; ///< write timeline.json (Chrome trace)
  bool step_detail = false;  ///< steps.csv also holds each step's batch shape and GPU/host split
};

struct RunInfo {
  /// How one device of an instance splits its memory before the KV cache is sized (bytes; the
  /// terms of sim/serving/memory_budget.hpp as the KV manager applied them).
  struct Memory {
    double usable = 0;               ///< what the driver reports as the device's total
    std::string usable_source;       ///< "driver-reported total" or "datasheet capacity (no driver figure)"
    /// Where the KV cache lives when not on the instance's devices (attention offload): "2 x h20-96gb
    /// (offload)"; `usable` is then that memory's share per GPU, and the GPUs hold the other terms.
    std::string kv_device;
    /// The GPUs also keep the KV their own memory leaves room for (NEO's GPU-resident share):
    /// `usable` is then the offload share plus the GPU's own memory.
    bool kv_also_on_gpus = false;
    /// With attention offload: the link each GPU reaches the KV's side over (empty: none), per
    /// direction, and whether it is contended on the platform (offload link: platform).
    std::string kv_link;
    double kv_link_bandwidth = 0, kv_link_back_bandwidth = 0, kv_link_latency = 0;  ///< out to the KV's side, back
    bool kv_link_contended = false;
    int kv_ranks = 1;  ///< data-parallel ranks whose KV the instance's cache sums (`kv` is their total)
    double utilization = 0;          ///< gpu_memory_utilization
    double weights = 0;
    double activation = 0;           ///< computed peak of the largest step, or the activation_reserve given
    bool activation_given = false;
    double non_torch = 0;
    double graphs = 0;               ///< CUDA-graph memory subtracted before sizing the cache
    double kv = 0;
    bool kv_given = false;           ///< kv_cache_memory set the KV size
    std::int64_t kv_blocks = 0;
    std::int64_t block_size = 0;     ///< tokens per block
  };
  struct Instance {
    std::string pool;         ///< the pool it belongs to
    std::string device;       ///< catalog name
    std::string device_kind;  ///< gpu, cpu, npu, soc
    std::string role = "both";  ///< both, prefill or decode (serving::InstanceRole)
    int tensor_parallel = 1;
    double device_share = 1;  ///< of each of its devices (semi-PD workers split one device's SMs)
    std::int64_t kv_blocks_total = 0;
    double kv_bytes_per_token = 0;  ///< on one device of the instance
    double cost_per_hour = 0;       ///< per device; 0 = unknown
    std::string cost_model_source;  ///< where the device's efficiency figures come from
    Memory memory;                  ///< one device's memory split
  };
  std::string scenario, file, model, fleet;
  std::string precision;  ///< the model's dtypes when they are mixed (feature "mixed_precision"); empty otherwise
  std::uint64_t seed = 0;
  std::size_t requests = 0;
  int clients = 0;  ///< closed-loop clients (workload.concurrency); 0 = open loop
  std::vector<Instance> instances;
  /// Features that switch conditional metrics on (metrics::Metric::only_with): "kv_swap", "slo",
  /// "closed_loop", "over_length_drop", "over_length_clip", "mixed_precision", "weight_streaming".
  std::vector<std::string> features;
  Slo slo;
  OutputOptions output;
  std::string resolved_yaml;  ///< effective configuration, written as resolved.yaml
};

}  // namespace hetsim::sim
