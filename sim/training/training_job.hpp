#pragma once
// What one training job runs, as plain data: the batch (sequence length, global and micro batch;
// gradient accumulation follows), the parallel plan, recompute, the gradient dtype, which
// data-parallel communication overlaps with compute, and how the layers are split over the
// pipeline's model stages. Built and validated by sim/scenario/training_scenario; read by the
// stage pricer and the training engine.
#include <cstdint>
#include <vector>

#include "models/graph_builder.hpp"
#include "sim/core/op.hpp"
#include "sim/core/parallel_plan.hpp"
#include "sim/training/pipeline_schedule.hpp"

namespace hetsim::training {

/// Which data-parallel communication overlaps with compute (Megatron-LM's --overlap-grad-reduce
/// and --overlap-param-gather; both on in its published large-scale runs).
struct Overlap {
  /// Each model chunk's gradient reduction starts as soon as its last backward pass ends, while
  /// other chunks still compute; off: all start after the rank's last backward.
  bool grad_reduce = true;
  /// ZeRO 1/2: each chunk's parameter all-gather after the optimizer step runs under the next
  /// iteration's forward passes (the first forward of a chunk waits for it); off: the iteration
  /// ends when the gather does. ZeRO-3: each layer's gather is prefetched during the layer before
  /// (FSDP, DeepSpeed), so a pass exposes only the first layer's or what exceeds its compute;
  /// off: every gather is exposed.
  bool param_gather = true;
  /// Parameters per communication bucket: with overlap, a reduction can end no sooner than one
  /// bucket's share after the backward that produces its gradients, and a forward no sooner than
  /// one bucket's share of it after its parameters arrive.
  double bucket_parameters = 40e6;
  /// Tensor-parallel all-gathers and reduce-scatters (or all-reduces) run in chunks pipelined with
  /// the GEMM they feed or follow (Megatron's --tp-comm-overlap, Transformer Engine userbuffers):
  /// such a pair takes max(c, g) + min(c, g) / tp instead of c + g. Off: Megatron's default.
  bool tp_comm = false;
  /// The MoE dispatch and combine all-to-alls of one micro-batch run under the compute of another's
  /// pass (DeepSeek's DualPipe pairs a forward and a backward chunk; Megatron-Core's
  /// --overlap-moe-expert-parallel-comm): a pass takes max(compute, all-to-all) instead of their
  /// sum. The SMs the communication kernels take (DeepSeek: 20 of 132) are not charged. Off: exposed.
  bool ep_comm = false;
};

/// Slow devices and run-to-run variability, to study stragglers: a rank group (the TP x CP devices
/// of one stage of one replica, in lockstep) runs at the pace of its slowest device, and every pass
/// and optimizer step of it takes its priced time times that slowdown times a random factor.
struct Stragglers {
  std::vector<std::pair<int, double>> slow;  ///< (global rank, slowdown >= 1): a throttled or degraded GPU
  /// Coefficient of variation of each pass's time: lognormal with mean 1 (0: none), drawn from a
  /// stream per rank group, so runs are reproducible under the scenario's seed.
  double jitter = 0;
  bool any() const { return !slow.empty() || jitter > 0; }
};

struct TrainingJob {
  std::int64_t seq_len = 0;       ///< tokens per sequence
  std::int64_t global_batch = 0;  ///< sequences per iteration, all data-parallel ranks together
  std::int64_t micro_batch = 1;   ///< sequences per micro-batch
  int iterations = 1;
  double train_tokens = 0;  ///< tokens of the whole training run, for its time to train (0: not asked)
  ParallelPlan plan;
  models::TrainingShape::Recompute recompute = models::TrainingShape::Recompute::none;
  /// With full recompute: decoder layers recomputed per model stage (Megatron's --recompute-method
  /// block --recompute-num-layers), the rest keeping their activations; -1: every layer.
  std::int64_t recompute_layers = -1;
  /// With selective recompute: the modules recomputed (models::RecomputeModule bits).
  unsigned recompute_modules = models::RecomputeModule::core_attn;
  DType grad_dtype = DType::fp32;  ///< gradient accumulation and reduction (Megatron's fp32 main grads)
  /// DeepSeek-V3's FP8 activation cache: bytes per element of what it keeps in FP8
  /// (training_memory's LayerShape::fp8_cache_bytes); 0: none.
  double fp8_cache_bytes = 0;
  DType moment_dtype = DType::fp32;  ///< Adam's momentum and variance
  bool deepep = false;               ///< MoE all-to-alls as DeepEP runs them (models::TrainingShape::deepep)
  Overlap overlap;
  Stragglers stragglers;
  /// Decoder layers of each model stage (pp · virtual_stages entries, in model-stage order).
  std::vector<std::int64_t> stage_layers;
  /// The pipeline schedule places its two chunks per rank in a V (PipelineSchedule::v_shape).
  bool pipeline_v_shape = false;
  /// The pipeline schedule runs two copies of the model fed from both ends
  /// (PipelineSchedule::bidirectional): each rank holds two model stages.
  bool pipeline_bidirectional = false;

  /// Micro-batches each data-parallel rank runs per iteration (gradient accumulation steps).
  std::int64_t microbatches() const { return global_batch / (micro_batch * plan.dp); }
  std::int64_t tokens_per_iteration() const { return global_batch * seq_len; }
  int model_stages() const { return plan.pp * plan.virtual_stages; }
  /// The pipeline's ranks, micro-batches per iteration and chunks, as the schedule orders them.
  PipelineShape pipeline() const {
    return {plan.pp, static_cast<int>(microbatches()), plan.virtual_stages, pipeline_v_shape, pipeline_bidirectional};
  }
  /// The shape of one micro-batch through model stage `stage`.
  models::TrainingShape shape(int stage) const {
    models::TrainingShape s;
    s.micro_batch = micro_batch;
    s.seq_len = seq_len;
    s.stage = stage;
    s.layers = stage_layers.at(static_cast<std::size_t>(stage));
    s.first_layer = 0;
    for (int k = 0; k < stage; ++k) s.first_layer += stage_layers.at(static_cast<std::size_t>(k));
    s.recompute = recompute;
    s.recompute_layers = recompute_layers;
    s.recompute_modules = recompute_modules;
    s.moment_dtype = moment_dtype;
    s.deepep = deepep;
    s.grad_dtype = grad_dtype;
    return s;
  }
};

}  // namespace hetsim::training
