#pragma once
// Turns a training run's records into results: per-iteration throughput and FLOP utilisation
// (iterations.csv), each rank group's time breakdown and memory (ranks.csv), summary.json, the
// printed table and the Chrome/Perfetto timeline (one process per rank group, one thread per
// stream). Plain data in, files out: no scenario and no SimGrid here.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sim/metrics/training_records.hpp"
#include "sim/training/resilience.hpp"

namespace hetsim::sim {

/// What the results need to know about the run (built from the scenario by the caller).
struct TrainingRunInfo {
  std::string scenario, file, model, cluster, device, schedule, recompute;
  std::string checkpoint;  ///< "async to nvme", or empty without a checkpoint policy
  std::uint64_t seed = 0;
  int gpus = 0, tp = 1, pp = 1, dp = 1, cp = 1, ep = 1, virtual_stages = 1, zero = 0;
  int etp = 1;  ///< ranks each routed expert is split over (ParallelPlan::expert_tp)
  bool sp = false;
  std::int64_t seq_len = 0, global_batch = 0, micro_batch = 0, microbatches = 0;
  double train_tokens = 0;               ///< tokens of the whole run (0: no time to train)
  double model_flops_per_iteration = 0;  ///< Megatron's accounting (training::megatron_model_flops)
  /// Of it, the attention term; with packed documents it counts at the documents' share (the
  /// attention of each document, not of a sequence-long one).
  double model_attention_flops = 0;
  double peak_flops = 0;                 ///< per GPU, dense, in the model's GEMM dtype (mean over mixed devices)
  std::string peak_dtype;
  /// Per pipeline rank (pp entries): one device's memory by component, bytes; empty = not modelled.
  struct Memory {
    double weights = 0, gradients = 0, optimizer = 0, activations = 0, buffers = 0, reserve = 0;
    int held_chunks = 1;  ///< micro-batch chunks `activations` is for (the schedule's peak on this rank)
    double total() const { return weights + gradients + optimizer + activations + buffers + reserve; }
    /// The same with `held` chunks of activations instead of the peak's.
    double total_holding(int held) const {
      return total() - activations * (1.0 - static_cast<double>(held) / std::max(1, held_chunks));
    }
  };
  std::vector<Memory> memory;
  double device_memory = 0;  ///< capacity per GPU, bytes
  /// The optimizer offload, as priced at load (policies.optimizer_offload).
  struct Offload {
    std::string policy;         ///< "zero_offload"
    std::string states_in;      ///< host | nvme
    std::string placement;      ///< over DRAM and CXL
    double gpu_fraction = 0;    ///< of the update run on the GPU
    double states_per_gpu = 0;  ///< bytes of optimizer states off each device (the largest shard)
    std::string params_in = "device";  ///< where the weights' shard lives: device | host | nvme
    double weights_per_gpu = 0;        ///< bytes of weights off each device (the largest shard)
    double host_bytes = 0, host_dram = 0, host_cxl = 0, host_capacity = 0;  ///< the busiest node
    double cxl_share = 0;
    double nvme_bytes = 0, nvme_capacity = 0;  ///< the busiest SSD
    double cpu_update = 0;      ///< seconds of the busiest node's CPU update of every shard
    bool needed = false;        ///< some rank fits only with the offload
    double peak_without = 0;    ///< the largest device total had the states stayed
    int stage_without = 0;      ///< on this pipeline rank
  };
  std::optional<Offload> offload;
  /// Activation swapping, as priced at load (policies.activation_offload).
  struct Swap {
    std::string policy;         ///< "memo"
    double fraction = 0;        ///< the swapped share
    bool automatic = false;     ///< chosen (fraction: auto)
    double bytes_per_pass = 0;  ///< the largest stage's bytes per device per micro-batch, each way
    double swapped_per_gpu = 0; ///< the largest device's activations in host memory at its peak
    double host_bytes = 0, host_capacity = 0;  ///< the busiest node's, and what it may take
    double rate = 0;            ///< bytes/s per device to host, all swapping at once
    double recompute_linear = 0, recompute_attention = 0;  ///< shares of the layers' forward recomputed
    bool needed = false;        ///< some rank fits only with the swap
    double peak_without = 0;    ///< the largest device total without it (recompute none)
    int stage_without = 0;
  };
  std::optional<Swap> swap;
  /// A policy that regroups the data x context parallel ranks per batch (policies.sequence_sharding):
  /// dp and cp above are as given; the rank groups (ranks.csv rows) are the pool's ranks.
  struct Sharding {
    std::string policy;            ///< "hybrid_dp"
    bool balance = false;
    int pool_ranks = 0;            ///< dp x cp per pipeline stage
    double capacity = 0;           ///< tokens per rank per micro-batch
    double rings = 0;              ///< documents ring-attended over several ranks, per iteration
    double ring_ranks_mean = 0;    ///< ranks per ring
    int ring_ranks_max = 0;
    double attention_imbalance = 0;  ///< the busiest rank's attention work over the mean, per iteration
  };
  std::optional<Sharding> sharding;
  /// Devices of one rank group: its tensor x context parallel ranks (the pool's ranks hold tensor only).
  int group_devices() const { return tp * (sharding ? 1 : cp); }
  /// Rank groups per pipeline stage: the data-parallel replicas, or the pool's ranks.
  int stage_groups() const { return sharding ? sharding->pool_ranks : dp; }
  std::string resolved_yaml;
};

/// Steady-state figures: the mean over the iterations after the first (which differs: it starts
/// with parameters in place and an empty pipeline) when there are several, else the only one.
struct TrainingSummary {
  int iterations = 0, steady_iterations = 0;
  double step_time = 0;
  double tokens_per_s = 0, tokens_per_s_per_gpu = 0;
  double model_flops = 0;  ///< Megatron's model FLOPs of a steady iteration (its documents' attention)
  double model_tflops_per_gpu = 0, mfu = 0, hfu = 0;
  /// MFU with the attention term counted causally (half of Megatron's full s x s): what a causal
  /// model needs, so that it stays below HFU at long context, where the attention term dominates.
  double mfu_causal = 0;
  double time_to_train = 0;  ///< seconds for TrainingRunInfo::train_tokens at the steady rate (0: not asked)
  RankTimes mean_times;  ///< per iteration, mean over rank groups
  double peak_memory = 0;
  int peak_memory_stage = -1;
  /// With a checkpoint: steady iterations clear of its background copies (all steady ones if none
  /// is), their mean, and what the copies added to the iterations they overlapped.
  int clean_iterations = 0;
  double clean_step_time = 0;
  double checkpoint_interference = 0;
};

TrainingSummary summarize(const TrainingRunInfo& info, const TrainingRecords& records);

/// Writes iterations.csv, ranks.csv, summary.json, resolved.yaml and (with spans) timeline.json
/// into `dir` (an existing folder: the caller's private result folder).
/// With a failure projection (`resilience`, may be null): failures.csv (trial 0's interruptions) and
/// failures_timeline.json (trial 0 as a Perfetto track) too.
void write_training_results(const std::string& dir, const TrainingRunInfo& info, const TrainingRecords& records,
                            const TrainingSummary& summary, const training::ResilienceReport* resilience = nullptr);

/// The printed summary.
std::string training_summary_table(const TrainingRunInfo& info, const TrainingRecords& records, const TrainingSummary& summary,
                                   const training::ResilienceReport* resilience = nullptr);

}  // namespace hetsim::sim
