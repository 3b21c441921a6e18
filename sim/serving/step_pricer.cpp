#include "sim/serving/step_pricer.hpp"

#include <fmt/format.h>

#include "models/moe_layer.hpp"
#include "sim/core/error.hpp"

namespace hetsim::serving {

namespace {
bool context_dependent(const Op& op) { return op.cls == OpClass::attention_prefill || op.cls == OpClass::attention_decode; }
}  // namespace

StepPricer::StepPricer(const models::ModelSpec& model, const ParallelPlan& plan, const hw::Device& device,
                       const hw::OperandPlacement& placement, const hw::ServingStack& stack,
                       std::shared_ptr<const OffloadPlan> offload)
    : model_(model),
      plan_(plan),
      stack_(stack),
      device_(stack.apply(device)),
      placement_(placement),
      trivial_placement_(placement.trivial(device)),
      builder_(models::builder_for(model)),
      cost_(device_),
      offload_(std::move(offload)) {
  if (device_.decode_engine != device_.engine) {
    decode_device_ = device_.decoding();
    decode_cost_ = std::make_unique<hw::CostModel>(decode_device_);
  }
  if (offload_) {
    offload_cost_ = std::make_unique<hw::CostModel>(*offload_->device);
    offload_scale_ = static_cast<double>(plan_.tp) / offload_->count;
  }
}

void StepPricer::span_nodes(int devices_per_node, const hw::LinkLevel& scale_out) {
  if (devices_per_node <= 0) return;
  if (!cache_.empty()) throw InvariantError("StepPricer::span_nodes after steps were priced");
  span_devices_per_node_ = devices_per_node;
  trivial_placement_ = false;
  cost_.set_scale_out(scale_out);
  if (decode_cost_) decode_cost_->set_scale_out(scale_out);
}

void StepPricer::overlap_two_batches(bool on) {
  if (on && model_.moe.moe_layers(model_.num_hidden_layers) <= 0)
    throw InvariantError(fmt::format("two-batch overlap needs an MoE model's all-to-alls; {} has none", model_.name));
  two_batch_overlap_ = on;
}

void StepPricer::dispatch_like_deepep(bool on) {
  if (!cache_.empty()) throw InvariantError("StepPricer::dispatch_like_deepep after steps were priced");
  deepep_ = on;
  if (on) trivial_placement_ = false;
}

void StepPricer::offload_experts(std::shared_ptr<const ExpertOffload> experts) {
  if (!cache_.empty()) throw InvariantError("StepPricer::offload_experts after steps were priced");
  expert_offload_ = std::move(experts);
}

void StepPricer::place(std::vector<Op>& ops, double tokens) const {
  if (trivial_placement_) return;
  placement_.apply(device_, ops, tokens);
  if (span_devices_per_node_ > 0)
    for (Op& op : ops)
      if (op.cls == OpClass::collective)
        op.group_nodes = (op.group + span_devices_per_node_ - 1) / span_devices_per_node_;
  if (deepep_)
    for (Op& op : ops)
      if (op.collective == Collective::all_to_all)
        op.routed = models::routed_rows(model_);
}

const StepPricer::Entry& StepPricer::entry(const models::BatchShape& batch, bool graphed) {
  auto key = (static_cast<std::uint64_t>(batch.tokens()) << 32) | (static_cast<std::uint64_t>(batch.logit_tokens) << 1) |
             static_cast<std::uint64_t>(graphed);
  if (decodes_apart(batch)) key |= std::uint64_t{1} << 63;  // priced on the decode engine
  if (key == last_key_) return *last_entry_;
  auto it = cache_.find(key);
  if (it == cache_.end()) it = cache_.emplace(key, build_entry(batch, graphed)).first;
  last_key_ = key;
  last_entry_ = &it->second;
  return it->second;
}

StepPricer::Entry StepPricer::build_entry(const models::BatchShape& batch, bool graphed) {
  const double launch = graphed ? 0.0 : stack_.launch;
  const hw::CostModel& cost = cost_for(batch);
  builder_.serving_step(model_, batch, plan_, ops_);
  place(ops_, static_cast<double>(batch.tokens()));
  Entry e;
  bool seen = false, after = false;
  for (const Op& op : ops_) {
    if (context_dependent(op)) {
      if (after)
        throw InvariantError(fmt::format("graph builder for {}: attention ops are not contiguous in the serving step", model_.model_type));
      if (!seen) e.attention_at = e.times.size();
      seen = true;
      continue;
    }
    after = seen;
    e.times.push_back(cost.time(op, launch));
    if (op.cls == OpClass::collective && op.collective == Collective::all_to_all) e.all_to_all += e.times.back();
  }
  if (!seen) e.attention_at = e.times.size();
  if (offload_ && offload_->experts != ExpertsOn::gpu) price_offloaded_experts(batch, launch, e);
  if (offload_ && offload_->layers) price_layer_split_ops(batch, launch, e);
  // Expert offload: the step's loads of uncached experts follow its token count, like the GEMMs.
  if (expert_offload_)
    e.times.push_back(expert_load_time(model_, *expert_offload_, static_cast<double>(batch.tokens()), plan_.tp));
  for (std::size_t i = 0; i < e.attention_at; ++i) e.before_attention += e.times[i];
  return e;
}

[[gnu::always_inline]] inline double StepPricer::device_time(const models::BatchShape& batch, bool graphed) {
  const Entry& e = entry(batch, graphed);
  ops_.clear();
  builder_.serving_attention(model_, batch, plan_, ops_);
  place(ops_);
  // The same additions, in the same order, as pricing every op of the step in turn.
  const double launch = graphed ? 0.0 : stack_.launch;
  double gpu = e.before_attention;  // the same additions from 0, done once per shape
  const hw::CostModel& cost = cost_for(batch);
  for (const Op& op : ops_) gpu += cost.time(op, launch);
  for (std::size_t i = e.attention_at; i < e.times.size(); ++i) gpu += e.times[i];
  last_all_to_all_ = e.all_to_all;
  return gpu;
}

double StepPricer::price(const models::BatchShape& batch) {
  if (batch.empty()) return 0;
  if (offload_) return price_offloaded(batch);
  // The hot path (every step of every run): parts() without its offload branch, kept apart because
  // the general form costs about 2% more instructions in bench/ (callgrind).
  const bool graphed = stack_.graphed(batch.tokens(), batch.prefill_tokens);
  last_gpu_ = device_time(batch, graphed);
  if (two_batch_overlap_) last_gpu_ = two_batch_time(batch, last_gpu_, last_all_to_all_);
  last_host_ = stack_.host_time(batch.decode_seqs + batch.prefill_chunks, batch.prefill_tokens);
  return stack_.step_time(last_host_, last_gpu_);
}

double StepPricer::two_batch_time(const models::BatchShape& batch, double whole, double whole_all_to_all) {
  // Two micro-batches of half the sequences each (a sequence is not split); a batch of one runs whole.
  if (whole_all_to_all <= 0 || batch.decode_seqs + batch.prefill_chunks < 2) return whole;
  const models::BatchShape half = batch.share(2);
  const double total = device_time(half, stack_.graphed(half.tokens(), half.prefill_tokens));
  const double comm = last_all_to_all_, compute = total - comm;
  // Per MoE layer one micro-batch's dispatch and combine run while the other computes: a layer
  // takes max(2 compute, 2 comm) per micro-batch pair, and the pipeline fills with one layer of the
  // shorter of the two. Each half re-reads the weights, so splitting a batch costs compute.
  const double layers = static_cast<double>(std::max<std::int64_t>(1, model_.moe.moe_layers(model_.num_hidden_layers)));
  return std::min(whole, std::max(2 * compute, 2 * comm) + std::min(compute, comm) / layers);
}

double StepPricer::offload_time(Op op) const {
  // The instance's work for this rank, on its share of the offload devices, reading its operands
  // where that device's engine keeps them.
  op.scale_work(offload_scale_);
  op.weights.tier = op.activations.tier = op.kv.tier = kHomeTier;
  op.engine = kModelEngine;
  return offload_cost_->time(op);
}

void StepPricer::price_offloaded_experts(const models::BatchShape& batch, double launch, Entry& e) const {
  // The routed expert ops are consecutive (gate_up, gating, down) and follow the attention.
  std::vector<Op> experts;
  std::size_t at = 0;
  for (const Op& op : ops_) {
    if (context_dependent(op)) continue;
    if (is_routed_expert_op(op)) {
      if (experts.empty()) e.experts_from = at;
      else if (e.experts_to != at)
        throw InvariantError(fmt::format("graph builder for {}: routed expert ops are not contiguous", model_.model_type));
      experts.push_back(op);
      e.experts_to = at + 1;
    }
    ++at;
  }
  if (experts.empty() || e.experts_from < e.attention_at)
    throw InvariantError(fmt::format("graph builder for {}: no routed expert ops after the attention", model_.model_type));
  const ExpertRows rows(model_.moe, static_cast<double>(batch.tokens()));
  const auto on_gpu = [&](const Op& op) { return cost_for(batch).time(op, launch); };
  const auto on_offload = [&](const Op& op) { return offload_time(op); };
  e.experts_offload = split_experts(experts, rows, rows.experts(), on_gpu, on_offload).offload;
  if (offload_->experts == ExpertsOn::co_process) e.experts_co = co_process_experts(experts, rows, on_gpu, on_offload);
}

StepPricer::StreamChoices StepPricer::stream_choices(const models::BatchShape& batch) const {
  const LayerSplit& s = *offload_->layers;
  StreamChoices choices;
  if (!s.stream_by_cost) {
    choices.add(s.threshold_choice(batch));
    return choices;
  }
  // Not streaming comes first: a tie keeps the weights where they are.
  choices.add({});
  const bool host_layers = s.has_host_layers();
  const bool host_output = !s.output_on_gpu && batch.logit_tokens > 0;
  if (host_layers) choices.add({.layers = true});
  if (host_output) choices.add({.output = true});
  if (host_layers && host_output) choices.add({.layers = true, .output = true});
  return choices;
}

void StepPricer::price_layer_split_ops(const models::BatchShape& batch, double launch, Entry& e) const {
  for (const StreamChoice c : stream_choices(batch)) e.split[split_index(c)] = price_split_parts(batch, launch, c);
}

StepPricer::SplitParts StepPricer::price_split_parts(const models::BatchShape& batch, double launch, StreamChoice streamed) const {
  const LayerSplit& s = *offload_->layers;
  const hw::CostModel& gpu_cost = cost_for(batch);
  SplitParts p;
  const auto on_gpu = [&](Op op, double instances) {
    op.repeat = instances;
    return instances > 0 ? gpu_cost.time(op, launch) : 0.0;
  };
  const auto on_host = [&](Op op, double instances) {
    op.repeat = instances;
    return instances > 0 ? offload_time(op) : 0.0;
  };
  // A streamed op runs on the GPU once its weights are copied there (the copies are link time).
  const auto streamed_op = [&](const Op& op, double instances) {
    if (op.weights.bytes > 0 && instances > 0) {
      p.stream_bytes += op.weights.bytes * instances;
      p.copies += instances;
    }
    return on_gpu(op, instances);
  };
  // An op run once per layer of some kind, `host` of its `instances` on the host side, or streamed.
  const auto split = [&](const Op& op, double host) {
    p.gpu += on_gpu(op, op.repeat - host);
    if (streamed.layers) p.gpu += streamed_op(op, host);
    else p.host += on_host(op, host);
  };
  const double L = s.total_layers;
  for (const Op& op : ops_) {
    if (context_dependent(op)) continue;
    if (op.name == "embedding") {  // a row gather, where the table is
      p.host += on_host(op, op.repeat);
    } else if (op.name == "final_norm" || op.name == "lm_head") {
      if (s.output_on_gpu) p.gpu += on_gpu(op, op.repeat);
      else if (streamed.output) p.gpu += streamed_op(op, op.repeat);
      else p.host += on_host(op, op.repeat);
    } else if (is_routed_expert_op(op)) {  // the host's experts: its layers' and the first host_expert_layers'
      split(op, s.host_expert_moe_layers());
    } else if (is_moe_op(op)) {  // router, shared experts, combine: with their layer
      split(op, s.moe_among_first(s.host_layers()));
    } else if (op.repeat == L) {
      split(op, s.host_layers());
    } else if (op.repeat == s.dense_layers) {  // an MoE model's leading dense MLPs
      split(op, std::min(s.dense_layers, s.host_layers()));
    } else {
      throw InvariantError(fmt::format("layer range split of {}: op {} runs {} times a step, neither once per layer ({}) nor "
                                       "once per dense ({}) or MoE layer",
                                       model_.name, op.name, op.repeat, s.total_layers, s.dense_layers));
    }
  }
  return p;
}

const StepPricer::Entry& StepPricer::entry_with_attention(const models::BatchShape& batch, double& launch) {
  const bool graphed = stack_.graphed(batch.tokens(), batch.prefill_tokens);
  const Entry& e = entry(batch, graphed);
  ops_.clear();
  builder_.serving_attention(model_, batch, plan_, ops_);
  place(ops_);
  launch = graphed ? 0.0 : stack_.launch;
  return e;
}

double StepPricer::price_layer_split(const models::BatchShape& batch) {
  const LayerSplit& s = *offload_->layers;
  double launch = 0;
  const Entry& e = entry_with_attention(batch, launch);
  // Each layer's attention runs where its KV is, whichever way the step streams.
  split_attention_gpu_.clear();
  split_attention_host_.clear();
  for (Op op : ops_) {
    op.repeat = s.gpu_layers;
    if (s.gpu_layers > 0) split_attention_gpu_.push_back(cost_for(batch).time(op, launch));
    op.repeat = s.host_layers();
    if (s.host_layers() > 0) split_attention_host_.push_back(offload_time(op));
  }
  last_gpu_ = -1;
  for (const StreamChoice c : stream_choices(batch)) {
    const SplitParts& p = e.split[split_index(c)];
    double gpu = p.gpu, host = p.host;  // then the attention, op by op (each side's sum in op order)
    for (const double t : split_attention_gpu_) gpu += t;
    for (const double t : split_attention_host_) host += t;
    // The sides run one after the other; every crossing and weight copy waits for the link.
    const LayerSplitTraffic x = layer_split_traffic(s, model_, batch, c);
    const double bytes = x.bytes + p.stream_bytes;
    // Down to the host: the activations that go there; up: the rest and the streamed weights.
    const double link = offload_->link_seconds(x.to_host, bytes - x.to_host) + (x.crossings + p.copies) * offload_->link.latency;
    const double device = gpu + host + link;
    if (last_gpu_ >= 0 && device >= last_gpu_) continue;  // the faster choice (stream_at auto)
    last_gpu_ = device;
    last_offload_ = host;
    last_offload_bytes_ = bytes;
    last_offload_bytes_out_ = x.to_host;
    last_offload_link_ = link;
    last_offload_pipelined_ = false;  // the sides run one after the other
    last_stream_choice_ = c;
    last_streamed_bytes_ = p.stream_bytes;
  }
  last_host_ = stack_.host_time(batch.decode_seqs + batch.prefill_chunks, batch.prefill_tokens);
  return stack_.step_time(last_host_, last_gpu_);
}

OffloadParts StepPricer::parts(const models::BatchShape& batch) {
  double launch = 0;
  const Entry& e = entry_with_attention(batch, launch);
  const hw::CostModel& cost = cost_for(batch);
  OffloadParts p;
  p.gpu = e.before_attention;
  for (Op& op : ops_) {
    if (op.cls == OpClass::attention_decode) {  // sparse attention reads and computes part of it
      op.kv.bytes *= offload_->kv_read_fraction;
      op.flops *= offload_->attention_compute_fraction;
    }
    if (!offload_->offloads(op.cls)) {
      p.gpu += cost.time(op, launch);
      continue;
    }
    if (op.cls == OpClass::attention_decode && gpu_attention_share_ > 0) {
      // NEO: the GPU-resident share of the contexts is attended to on the GPU, the rest offloaded.
      Op on_gpu = op;
      on_gpu.scale_work(gpu_attention_share_);
      p.gpu += cost.time(on_gpu, launch);
      if (gpu_attention_share_ >= 1) continue;
      op.scale_work(1 - gpu_attention_share_);
    }
    p.offload += offload_time(op);
  }
  // Routed experts on the PIM: all of them in decode-only steps (Duplex), or co-processed every step.
  const bool experts_off =
      offload_->experts == ExpertsOn::co_process || (offload_->experts == ExpertsOn::offload_in_decode && batch.decode_only());
  for (std::size_t i = e.attention_at; i < e.times.size(); ++i)
    if (!experts_off || i < e.experts_from || i >= e.experts_to) p.gpu += e.times[i];
  if (experts_off && offload_->experts == ExpertsOn::co_process) {
    p.both = e.experts_co.time();
    p.both_offload = e.experts_co.offload;
  } else if (experts_off) {
    p.offload += e.experts_offload;
  }
  return p;
}

double StepPricer::price_offloaded(const models::BatchShape& batch) {
  if (offload_->layers) return price_layer_split(batch);
  const OffloadPlan& o = *offload_;
  // The GPU-resident share follows the whole batch (each sub-batch has half of the resident sequences).
  gpu_attention_share_ = o.gpu_attention_share(batch);
  const OffloadParts whole = parts(batch);
  const OffloadTraffic traffic = offload_traffic(o, model_, plan_.tp, batch, gpu_attention_share_);
  // A sub-batch needs a sequence of its own.
  const bool can_split = o.pipelining == OffloadPipelining::ping_pong && batch.decode_seqs + batch.prefill_chunks >= o.sub_batches;
  OffloadParts sub;
  OffloadTraffic sub_traffic;
  if (can_split) {
    const models::BatchShape half = batch.share(o.sub_batches);
    sub = parts(half);
    sub_traffic = offload_traffic(o, model_, plan_.tp, half, gpu_attention_share_);
  }
  const double layers = static_cast<double>(model_.num_hidden_layers);
  const OffloadStep step = offload_step_time(o, layers, whole, traffic, sub, sub_traffic, can_split);
  last_gpu_ = step.seconds;
  last_offload_link_ = step.link;
  last_offload_pipelined_ = step.pipelined;
  last_offload_ = whole.offload + whole.both_offload;
  last_offload_bytes_ = traffic.to_offload + traffic.from_offload;
  last_offload_bytes_out_ = traffic.to_offload;
  last_host_ = stack_.host_time(batch.decode_seqs + batch.prefill_chunks, batch.prefill_tokens);
  return stack_.step_time(last_host_, last_gpu_);
}

StepExplanation StepPricer::explain(const models::BatchShape& batch) {
  if (offload_)
    throw InputError(fmt::format("explain takes apart steps on one device; this instance also runs ops on {} (pool key offload)",
                                 offload_->describe()));
  if (expert_offload_ || two_batch_overlap_)
    throw InputError(fmt::format("explain takes apart one batch's ops; this instance {}",
                                 expert_offload_ ? "also loads offloaded experts over its host link (serving.expert_offload)"
                                                 : "runs two overlapped micro-batches (pool key two_batch_overlap)"));
  StepExplanation x;
  if (batch.empty()) return x;
  x.graphed = stack_.graphed(batch.tokens(), batch.prefill_tokens);
  const double launch = x.graphed ? 0.0 : stack_.launch;
  std::vector<Op> ops;
  builder_.serving_step(model_, batch, plan_, ops);
  place(ops, static_cast<double>(batch.tokens()));
  for (const Op& op : ops) {
    OpCost c;
    c.op = op;
    c.terms = cost_for(batch).breakdown(op);
    c.device_gap = op.kernels * device_.kernel_launch_overhead;
    c.dispatch = op.kernels * launch;
    c.time = cost_for(batch).time(op, launch);
    x.gpu += c.time;  // op order, from zero: the additions price() makes
    x.ops.push_back(std::move(c));
  }
  x.host_step = stack_.step_overhead;
  x.host_sequences = stack_.per_sequence * static_cast<double>(batch.decode_seqs + batch.prefill_chunks);
  x.host_prompt_tokens = stack_.per_prefill_token * static_cast<double>(batch.prefill_tokens);
  x.host = stack_.host_time(batch.decode_seqs + batch.prefill_chunks, batch.prefill_tokens);
  x.step = stack_.step_time(x.host, x.gpu);
  // The explanation is only worth having if it is the step the simulation runs.
  const double priced = price(batch);
  if (priced != x.step || last_gpu_ != x.gpu || last_host_ != x.host)
    throw InvariantError(fmt::format("step explanation {} s (GPU {} s, host {} s) differs from the priced step {} s "
                                     "(GPU {} s, host {} s)",
                                     x.step, x.gpu, x.host, priced, last_gpu_, last_host_));
  return x;
}

}  // namespace hetsim::serving
