#pragma once
// Prices an instance's serving steps: the graph builder's ops for the batch, placed on the device
// and summed by the cost model as one chain (the executor's fast path), plus the serving stack's
// host work (hw/serving_stack.hpp). Every op but attention depends only on the batch's token and
// logit counts and on whether the step replays a CUDA graph, so those are priced once per
// (tokens, logit tokens, graphed) and cached; attention ops, whose cost follows each sequence's context, are priced
// every step. The sum runs in op order, so the result is bit-identical to pricing every op.
#include <array>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "hw/cost_model.hpp"
#include "hw/placement.hpp"
#include "hw/serving_stack.hpp"
#include "models/graph_builder.hpp"
#include "sim/serving/expert_offload.hpp"
#include "sim/serving/expert_split.hpp"
#include "sim/serving/op_offload.hpp"

namespace hetsim::serving {

/// One op of an explained step: the op as placed, its roofline terms and what it costs.
struct OpCost {
  Op op;
  hw::Breakdown terms;    ///< roofline terms of one instance (no launch overhead)
  double device_gap = 0;  ///< device launch gap per instance (kernels x the device's launch overhead)
  double dispatch = 0;    ///< host dispatch per instance (kernels x the stack's launch; 0 under a CUDA graph)
  double time = 0;        ///< seconds of all `repeat` instances, as the step is priced
};

/// A step taken apart: every op in order, the host work and the totals, bit-identical to price().
struct StepExplanation {
  std::vector<OpCost> ops;
  bool graphed = false;         ///< the step replays a CUDA graph (no per-kernel dispatch)
  double host_step = 0;         ///< the stack's fixed host work per step
  double host_sequences = 0;    ///< per-sequence host work x sequences
  double host_prompt_tokens = 0;  ///< per-prompt-token host work x prompt tokens
  double gpu = 0, host = 0, step = 0;
};

class StepPricer {
 public:
  /// `offload`: op classes placed on offload devices (sim/serving/op_offload.hpp); null: all on `device`.
  StepPricer(const models::ModelSpec& model, const ParallelPlan& plan, const hw::Device& device,
             const hw::OperandPlacement& placement, const hw::ServingStack& stack,
             std::shared_ptr<const OffloadPlan> offload = nullptr);

  /// The instance spans nodes of `devices_per_node` devices: a collective over more ranks crosses
  /// `scale_out` (hierarchical). Call before pricing.
  void span_nodes(int devices_per_node, const hw::LinkLevel& scale_out);
  /// Two-batch overlap (pool key two_batch_overlap; SGLang's TBO, DeepSeek's dual micro-batch):
  /// each step runs as two micro-batches whose expert all-to-alls overlap the other's compute,
  /// where that is faster than the whole batch at once.
  void overlap_two_batches(bool on);
  /// MoE dispatch and combine as DeepEP runs them (pool key moe_dispatcher: deepep): across nodes
  /// each token's row crosses once per remote node of its experts (Op::routed). Call before pricing.
  void dispatch_like_deepep(bool on);
  /// Expert offload (serving.expert_offload): each step also loads the uncached experts its tokens
  /// need over the host link, layer by layer, before their GEMMs. Call before pricing.
  void offload_experts(std::shared_ptr<const ExpertOffload> experts);
  /// Seconds one step of `batch` takes on the instance (GPU work and the stack's host work).
  double price(const models::BatchShape& batch);
  /// The step of `batch` taken apart op by op (the same ops, order and sums as price()).
  StepExplanation explain(const models::BatchShape& batch);
  /// The GPU part of the last priced step, and its host part. With offload, the GPU part is the
  /// device time of the whole step (GPUs, offload devices and the link between, as combined).
  double last_gpu() const { return last_gpu_; }
  /// With offload: seconds of the last step's ops on the offload devices, and bytes its ranks' links carried each way.
  double last_offload() const { return last_offload_; }
  double last_offload_bytes() const { return last_offload_bytes_; }
  /// Of last_offload_bytes(), those going to the offload side (the rest come back from it).
  double last_offload_bytes_out() const { return last_offload_bytes_out_; }
  /// With offload: whether the last step overlapped its sides (pipelined sub-batches), and, when
  /// not, the seconds of its device time that were the link's (OffloadPlan::on_platform runs them
  /// as flows instead).
  bool last_offload_pipelined() const { return last_offload_pipelined_; }
  double last_offload_link() const { return last_offload_link_; }
  /// Layer range split: which host-side parts the last step streamed to the GPU, and their weight
  /// bytes copied over the link (part of last_offload_bytes()).
  StreamChoice last_stream_choice() const { return last_stream_choice_; }
  double last_streamed_bytes() const { return last_streamed_bytes_; }
  double last_host() const { return last_host_; }
  const hw::ServingStack& stack() const { return stack_; }
  /// The device as priced: the stack's attention curves in place.
  const hw::Device& device() const { return device_; }
  /// Distinct (tokens, logit tokens) shapes priced so far.
  std::size_t cached_shapes() const { return cache_.size(); }

 private:
  struct SplitParts {
    double gpu = 0, host = 0, stream_bytes = 0, copies = 0;
  };
  struct Entry {
    std::vector<double> times;  ///< seconds of each op that does not depend on contexts, in op order
    std::size_t attention_at = 0;  ///< where the attention ops go in that order
    double before_attention = 0;   ///< times[0..attention_at) summed from 0 in order (what price() adds first)
    double all_to_all = 0;         ///< of which the expert all-to-alls (wide EP's dispatch and combine)
    /// Routed experts that may run on PIM in the GPUs' memory (offload key experts): where their ops
    /// are in `times`, and their time all on the PIM, or co-processed.
    std::size_t experts_from = 0, experts_to = 0;
    double experts_offload = 0;
    ExpertSplit experts_co;
    /// Layer range split (offload impl layers), for each choice the step may make (split_index):
    /// the context-free ops' seconds on the GPU (streamed host ops included) and on the host, and
    /// the weight bytes and copies streamed to the GPU.
    std::array<SplitParts, 4> split;
  };
  static std::size_t split_index(StreamChoice c) { return (c.layers ? 1 : 0) + (c.output ? 2 : 0); }
  /// The choices a layer range split weighs for `batch`: its threshold's, or with stream_at auto each
  /// distinct one (a part the split does not have to stream is not streamed).
  struct StreamChoices {
    std::array<StreamChoice, 4> at{};
    std::size_t count = 0;
    void add(StreamChoice c) { at[count++] = c; }
    const StreamChoice* begin() const { return at.data(); }
    const StreamChoice* end() const { return at.data() + count; }
  };
  StreamChoices stream_choices(const models::BatchShape& batch) const;
  const Entry& entry(const models::BatchShape& batch, bool graphed);
  /// The entry of `batch` with its attention ops placed in ops_, and the host launch per kernel (offload's paths).
  const Entry& entry_with_attention(const models::BatchShape& batch, double& launch);
  Entry build_entry(const models::BatchShape& batch, bool graphed);
  /// Applies the placement to `ops` of a step of `tokens` tokens (flash streaming reads follow them).
  void place(std::vector<Op>& ops, double tokens = 1) const;
  /// Offload with experts on PIM: prices the routed expert ops of `e` (the entry being built) there.
  void price_offloaded_experts(const models::BatchShape& batch, double launch, Entry& e) const;
  /// Layer range split: prices the context-free ops of `e` (the entry being built) on their sides.
  void price_layer_split_ops(const models::BatchShape& batch, double launch, Entry& e) const;
  SplitParts price_split_parts(const models::BatchShape& batch, double launch, StreamChoice streamed) const;
  double price_layer_split(const models::BatchShape& batch);
  /// Offload: `op` as one offload device runs its share (tp / count of the instance's work, from its own memory).
  double offload_time(Op op) const;
  /// Offload: the GPU and offload-device parts of `batch` (the same sums as price() without offload).
  OffloadParts parts(const models::BatchShape& batch);
  double price_offloaded(const models::BatchShape& batch);
  /// The device time of `batch` (the hot path's sum); sets last_all_to_all_ to its all-to-all part.
  double device_time(const models::BatchShape& batch, bool graphed);
  /// The faster of `whole` and the batch as two overlapped micro-batches.
  double two_batch_time(const models::BatchShape& batch, double whole, double whole_all_to_all);

  /// An SoC whose decode-only steps run on another engine (hw::Device::decode_engine) prices them there.
  bool decodes_apart(const models::BatchShape& batch) const {
    return decode_cost_ && batch.decode_only();
  }
  const hw::CostModel& cost_for(const models::BatchShape& batch) const { return decodes_apart(batch) ? *decode_cost_ : cost_; }

  const models::ModelSpec& model_;
  ParallelPlan plan_;
  hw::ServingStack stack_;
  hw::Device device_;
  hw::OperandPlacement placement_;
  bool trivial_placement_;
  int span_devices_per_node_ = 0;  ///< > 0: the instance spans nodes of this many devices
  const models::GraphBuilder& builder_;
  hw::CostModel cost_;
  hw::Device decode_device_;                   ///< device_ with its decode engine running the model
  std::unique_ptr<hw::CostModel> decode_cost_;  ///< on decode_device_; null: decode runs on device_'s engine
  std::unordered_map<std::uint64_t, Entry> cache_;
  std::uint64_t last_key_ = UINT64_MAX;  ///< the last shape looked up (consecutive decode steps repeat it)
  const Entry* last_entry_ = nullptr;
  std::vector<Op> ops_;
  double last_gpu_ = 0, last_host_ = 0;
  std::shared_ptr<const OffloadPlan> offload_;
  std::unique_ptr<hw::CostModel> offload_cost_;  ///< on offload_->device
  double offload_scale_ = 1;  ///< the instance's attention on one offload device, per rank's op: tp / count
  double gpu_attention_share_ = 0;  ///< with GPU-resident KV: the share of this step's decode attention on the GPUs
  double last_offload_ = 0, last_offload_bytes_ = 0, last_offload_bytes_out_ = 0, last_offload_link_ = 0;
  bool last_offload_pipelined_ = false;
  StreamChoice last_stream_choice_;
  std::vector<double> split_attention_gpu_, split_attention_host_;  ///< layer split: this step's attention ops, each side
  double last_streamed_bytes_ = 0;
  bool two_batch_overlap_ = false;
  bool deepep_ = false;
  std::shared_ptr<const ExpertOffload> expert_offload_;
  double last_all_to_all_ = 0;
};

}  // namespace hetsim::serving
