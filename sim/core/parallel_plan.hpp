#pragma once
// How one model instance (a serving replica or a training job) is split over devices:
// tensor (tp, with optional sequence parallelism sp), pipeline (pp, with `virtual_stages` model
// chunks per device for interleaved schedules), data (dp), context (cp) and expert (ep)
// parallelism, and the ZeRO stage of data parallelism (0: none, 1: optimizer states, 2: + gradients,
// 3: + parameters, i.e. FSDP).
#include <string>

namespace hetsim {

struct ParallelPlan {
  int tp = 1;
  int pp = 1;
  int dp = 1;
  int cp = 1;
  int ep = 1;  ///< expert-parallel degree; experts are split over ep of the dp x tp ranks
  /// Expert-tensor-parallel degree under expert parallelism (Megatron-Core's
  /// expert_tensor_parallel_size): each routed expert split in width over etp ranks. 0 means
  /// hetsim's default, 1 (whole experts, as DeepSeek's and Megatron-Bridge's MoE recipes set;
  /// Megatron-LM's command line defaults it to tp instead). Training only.
  int etp = 0;
  bool sp = false;
  int zero = 0;
  int virtual_stages = 1;
  /// Copies of each model stage the pipeline holds: 2 under DualPipe (fed from both ends), whose
  /// copies reduce their gradients together and share ZeRO's shards like data-parallel replicas.
  int copies = 1;

  /// Devices one instance occupies (ep reuses the data/tensor-parallel ranks).
  int devices() const { return tp * pp * dp * cp; }
  /// Devices one model replica (one data-parallel rank) occupies.
  int model_devices() const { return tp * pp * cp; }
  /// Ranks that hold the same weights: the data- and context-parallel ranks (context parallelism
  /// splits the tokens, not the weights), times the pipeline's copies. Megatron-Core reduces
  /// gradients and shards the distributed optimizer (and FSDP its parameters) over this dp x cp group.
  int weight_replicas() const { return dp * cp * copies; }
  /// Ranks that hold the same routed-expert shard (Megatron-Core's expert-data-parallel group). In
  /// training a pipeline stage's tp x cp x dp ranks are folded into expert groups of etp x ep
  /// consecutive ranks (Megatron-Core's MoE parallel folding, expert ranks ordered etp, ep, edp);
  /// etp x ep of them hold different shards, the rest repeat them. Without expert parallelism the
  /// experts split over tp like the dense weights, so their replicas are the dp x cp ranks.
  int expert_replicas() const { return tp * cp * dp * copies / (ep * expert_tp()); }
  /// Experts folded over the tensor-parallel ranks: attention split over tp, each rank's routed
  /// experts whole and its sequence-parallel share of the tokens routed by itself.
  bool experts_fold_tp() const { return ep > 1 && tp > 1; }
  /// Ranks that split each routed expert in width: all tp without expert parallelism, etp with it
  /// (default 1: whole experts).
  int expert_tp() const { return ep > 1 ? (etp > 0 ? etp : 1) : tp; }
  /// "TP4 PP2 DP8" (degrees above 1 only; "TP1" when none is).
  std::string describe() const;
};

}  // namespace hetsim
