#pragma once
// What a training run records, as plain data (filled by the training engine, written by
// sim/metrics/training_results): per iteration its span, per rank group (the tensor- and
// context-parallel devices of one pipeline stage of one data-parallel replica, which run in
// lockstep) where its time went, and optionally the timeline of passes and transfers.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hetsim::sim {

/// Time of one rank group by kind, summed over the iterations. Per iteration they add up to the
/// iteration's span: compute + tp_comm (the pass as priced) + waits (pp_bubble, pp_comm, dp_comm,
/// idle) + optimizer + checkpoint.
struct RankTimes {
  double compute = 0;    ///< passes without their in-pass collectives
  double tp_comm = 0;    ///< collectives inside passes (TP/SP, ZeRO-3 gathers): exposed, not overlapped
  double ep_comm = 0;    ///< the MoE all-to-alls inside passes (expert parallelism's dispatch and combine)
  double cp_comm = 0;    ///< the context-parallel K/V ring inside passes, beyond the attention that hides it
  double pp_bubble = 0;  ///< waiting for a pass of another stage to end (the pipeline bubble)
  double pp_comm = 0;    ///< waiting for activations or gradients in flight after that pass ended
  double dp_comm = 0;    ///< waiting for data-parallel gradient reductions and parameter gathers
  double optimizer = 0;  ///< the optimizer step
  double idle = 0;       ///< waiting at the iteration's end for the slowest rank group
  double checkpoint = 0; ///< waiting for the blocking copies of a checkpoint (the stall)
  /// Waiting beyond the passes for the copies that run beside them (activation swaps to and from
  /// host memory, fetches of offloaded weights): what the passes did not hide.
  double offload = 0;
  double total() const { return compute + tp_comm + ep_comm + cp_comm + pp_bubble + pp_comm + dp_comm + optimizer + idle + checkpoint + offload; }
};

struct RankRecord {
  int dp = 0, pp = 0;
  int first_rank = 0;         ///< global rank of its first device
  std::string device;         ///< the device type its passes run at (the slowest of its devices)
  RankTimes times;
  double flops = 0;           ///< executed per device, all iterations (recompute included)
  int peak_in_flight = 0;     ///< most micro-batch chunks whose activations it held at once
};

struct IterationRecord {
  double start = 0, end = 0;
  double flops = 0;  ///< executed in it per device, summed over the rank groups (recompute included)
};

/// One span of the timeline: a pass or the optimizer (compute stream), a pipeline transfer into
/// the group (pp stream), a data-parallel collective (dp stream), a checkpoint copy (checkpoint stream),
/// a copy or update of an offloaded optimizer step (offload stream).
struct TimelineSpan {
  enum class Stream : std::uint8_t { compute, pp, dp, checkpoint, offload };
  std::uint32_t group = 0;
  Stream stream = Stream::compute;
  std::string_view name;  ///< static storage
  int microbatch = -1;
  int chunk = -1;
  double start = 0, end = 0;
};

/// A rank group's micro-batch chunks of activations held changed (a forward stored one, a backward
/// freed one): memory over time.
struct MemorySample {
  std::uint32_t group = 0;
  double time = 0;
  int held = 0;
};

/// The checkpoint saved at the end of the first iteration, and its reload, as the platform ran them.
struct CheckpointRecord {
  bool taken = false;
  double bytes_per_gpu = 0;  ///< the largest shard
  double start = 0;          ///< when the first rank group began its copies
  double stall = 0;          ///< the longest wait of a rank group for its blocking copies
  double stall_end = 0;      ///< when the last rank group's blocking copies ended
  double persist_end = 0;    ///< when the last background copy ended (= stall_end without any)
  /// With a lazy snapshot (DataStates-LLM): the longest wait of a rank group's next optimizer step
  /// for it (its cost shows in that iteration's length, as interference, not in `stall`).
  double lazy_wait = 0;
  /// Every shard read back from where a restart finds it into its device, all at once, after the last
  /// iteration on an otherwise idle platform.
  double restore = 0;
  /// How long the background copies ran on after the stall (0 without any).
  double persist() const { return persist_end > stall_end ? persist_end - stall_end : 0.0; }
};

struct TrainingRecords {
  std::vector<IterationRecord> iterations;
  std::vector<RankRecord> ranks;  ///< index pp * simulated replicas + dp
  /// Data-parallel replicas each rank record stands for: 1, or dp when one replica was simulated
  /// (training.simulate_replicas: one) for all of its identical peers.
  int replicas_per_record = 1;
  std::vector<TimelineSpan> timeline;
  std::vector<MemorySample> memory;  ///< with the timeline: every change of chunks held, in time order
  std::int64_t passes = 0;     ///< passes simulated (all groups, all iterations)
  std::int64_t transfers = 0;  ///< network flows started (pipeline sends and collective rings)
  CheckpointRecord checkpoint;
  /// With an optimizer offload: the longest offloaded optimizer step of any rank group.
  double offload_step = 0;
  /// With packed documents: each micro-batch's attention work relative to whole-sequence causal
  /// attention, over every replica and iteration (0 without documents).
  double attention_share_mean = 0, attention_share_min = 0, attention_share_max = 0;
  /// The same mean over each iteration's micro-batches alone (iterations differ in their documents).
  std::vector<double> iteration_attention_share;
};

}  // namespace hetsim::sim
