#include "sim/engine/replica.hpp"

#include <algorithm>
#include <limits>
#include <span>
#include <utility>

#include "sim/core/error.hpp"
#include "sim/core/units.hpp"

namespace hetsim::sim {

Replica::Replica(int index, ReplicaPlan& plan, const models::ModelSpec& model, std::int64_t max_model_len,
                 Recorder& recorder, const Controllers* controllers)
    : index_(index),
      plan_(plan),
      controllers_(controllers && !controllers->empty() ? controllers : nullptr),
      model_(model),
      max_model_len_(max_model_len),
      recorder_(recorder),
      pricer_(model, plan.parallel, *plan.device, plan.placement, *plan.stack, plan.offload),
      queues_(*plan.kv, *plan.preemption) {
  pricer_.span_nodes(plan.span_devices_per_node, plan.scale_out);
  pricer_.overlap_two_batches(plan.two_batch_overlap);
  pricer_.dispatch_like_deepep(plan.deepep);
  pricer_.offload_experts(plan.expert_offload);
  if (plan.speculation) draft_pricer_.emplace(plan.speculation->draft, plan.parallel, *plan.device, plan.placement, *plan.stack);
  row_.replica = index;
  row_.set(serving_metrics::kKvBlocksTotal, plan.kv->total_blocks());
  if (!plan.kv->kv_tiers().empty()) {
    // What a prompt token costs to compute here, from a 2,048-token prefill step: the KV policy
    // weighs loading cached KV from a slower tier against computing it again.
    models::BatchShape prefill;
    prefill.add_prefill(2048, 0, true);
    plan.kv->set_prefill_seconds_per_token(pricer_.price(prefill) / 2048.0);
  }
}

Replica::Misfit Replica::misfit(const policies::Sequence& seq) const {
  if (seq.prompt_tokens + seq.output_tokens > max_model_len_) return Misfit::max_model_len;
  if (plan_.kv->blocks_for(seq.peak_kv_tokens()) > plan_.kv->total_blocks()) return Misfit::kv_capacity;
  if (auto limit = plan_.scheduler->unsplit_token_limit(); limit && seq.peak_kv_tokens() > *limit) return Misfit::batch_tokens;
  return Misfit::none;
}

Replica::FitKey Replica::fit_key() const {
  return {max_model_len_, plan_.kv->block_size(), plan_.kv->total_blocks(), plan_.scheduler->unsplit_token_limit().value_or(-1)};
}

std::string Replica::rejection_reason(const policies::Sequence& seq) const {
  switch (misfit(seq)) {
    case Misfit::none:
      return {};
    case Misfit::max_model_len:
      return fmt::format("exceeds_max_model_len: prompt + output = {} tokens > max_model_len {}",
                         seq.prompt_tokens + seq.output_tokens, max_model_len_);
    case Misfit::kv_capacity:
      return fmt::format("exceeds_kv_capacity: needs {} KV blocks > {} on the replica", plan_.kv->blocks_for(seq.peak_kv_tokens()),
                         plan_.kv->total_blocks());
    case Misfit::batch_tokens:
      return fmt::format("exceeds_max_num_batched_tokens: up to {} tokens in one step > {} (prompts are not chunked)",
                         seq.peak_kv_tokens(), *plan_.scheduler->unsplit_token_limit());
  }
  return {};
}

bool Replica::accept(policies::Sequence& seq, double now) {
  seq.replica = index_;
  if (auto reason = rejection_reason(seq); !reason.empty()) {
    recorder_.on_reject(seq.id, index_, std::move(reason), now);
    return false;
  }
  work_arrives(now);
  queues_.waiting().push_back(&seq);
  add_outstanding(1);
  return true;
}

void Replica::plan_step(double now, EngineId engine, OpGraph& graph) {
  if (kv_windows_) {
    // The first step of a new window closes the last one (its counters as they stand now).
    if (const std::int64_t w = kv_windows_->window_of(now); w != kv_window_) {
      kv_windows_->roll(index_, kv_window_, lookup_total_, plan_.kv->tier_stats());
      kv_window_ = w;
    }
  }
  plan_.kv->advance(now);  // cached KV past its time to live is dropped before anything looks it up
  batch_.clear();
  plan_.scheduler->schedule(queues_, batch_);
  if (batch_.empty())
    throw InvariantError(fmt::format("replica {}: {} waiting and {} running sequences but the scheduler chose no work",
                                     index_, queues_.waiting().size(), queues_.running().size()));
  check_batch();
  models::BatchShape shape;
  models::BatchShape drafting;  // the drafter's batch: one token per speculating sequence
  std::int64_t draft_passes = 0, drafted = 0;
  if (draft_pricer_) drafts_.assign(batch_.size(), 0);
  for (std::size_t i = 0; i < batch_.size(); ++i) {
    const auto& item = batch_[i];
    policies::Sequence& s = *item.seq;
    if (s.first_scheduled < 0) {
      s.first_scheduled = now;
      recorder_.on_first_scheduled(s.id, index_, now, std::max<std::int64_t>(0, s.cached_tokens));
      if (controllers_)
        for (auto& c : *controllers_) c->on_admit(s, static_cast<std::size_t>(index_));
    }
    if (s.decoding()) {
      const std::int64_t drafts = draft_pricer_ ? plan_drafts(s) : 0;
      if (drafts > 0) {
        shape.add_verify(s.computed + 1, drafts);
        drafting.add_decode(s.computed + 1);
        drafts_[i] = drafts;
        drafted += drafts;
        draft_passes = std::max(draft_passes, drafts);
      } else {
        shape.add_decode(s.computed + 1);
      }
    } else
      shape.add_prefill(item.tokens, s.computed, s.computed + item.tokens == s.known());
  }
  // KV the policies moved between tiers of the store while scheduling: bytes on the platform.
  auto& transfers = plan_.kv->store().pending_transfers();
  std::int64_t out_tokens = 0, in_tokens = 0;
  for (const auto& t : transfers) {
    if (t.to == serving::kDeviceTier) in_tokens += t.tokens;
    if (t.from == serving::kDeviceTier) out_tokens += t.tokens;
  }
  if (!transfers.empty() && plan_.node < 0)
    throw InvariantError(fmt::format("replica {}: KV copies planned but the replica has no node to move them over", index_));
  set_row(now, shape, static_cast<std::int64_t>(batch_.size()), out_tokens, in_tokens);
  const policies::PrefixCounts prefix = plan_.kv->take_prefix_counts();
  lookup_total_ += prefix.lookup_tokens;
  row_.set(serving_metrics::kPrefixLookupTokens, prefix.lookup_tokens);
  row_.set(serving_metrics::kPrefixHitTokens, prefix.hit_tokens);
  row_.set(serving_metrics::kPrefixLoadedTokens, prefix.loaded_tokens);
  graph.clear();
  // Every TP rank moves its own shard over its own route; the step computes once all have landed.
  move_ids_.clear();
  layerwise_ids_.clear();
  const auto& store = plan_.kv->store();
  for (const auto& device_tier : plan_.device_tiers)
    for (const auto& t : transfers) {
      const std::string& from = t.from == serving::kDeviceTier ? device_tier : store.tier_name(t.from);
      const std::string& to = t.to == serving::kDeviceTier ? device_tier : store.tier_name(t.to);
      const policies::KvManager::CopyCost cost = plan_.kv->copy_cost(t);
      const NodeId id = graph.add_move(t.to == serving::kDeviceTier ? "kv_in" : "kv_out", from, to,
                                       static_cast<double>(t.tokens) * plan_.kv_bytes_per_token, {}, cost.request_size,
                                       cost.overhead);
      // The step computes once the others have landed; overlapping ones (write-through copies,
      // demotions between lower tiers) run in the background, contending for the links.
      if (t.overlap) graph.nodes()[id].background = true;
      else (t.layerwise ? layerwise_ids_ : move_ids_).push_back(id);
    }
  transfers.clear();
  // Host work of the KV manager for this step (mapping pages): hidden under the compute, or added.
  double model_seconds = pricer_.price(shape);
  double draft_gpu = 0;  // the drafter's passes come first, one per draft token (GPU work only)
  if (draft_passes > 0) {
    draft_pricer_->price(drafting);
    draft_gpu = static_cast<double>(draft_passes) * draft_pricer_->last_gpu();
    model_seconds += draft_gpu;
  }
  if (draft_pricer_) {
    row_.set(serving_metrics::kVerifySeqs, drafting.decode_seqs);
    row_.set(serving_metrics::kDraftTokens, drafted);
  }
  const double seconds = plan_.kv->take_host_work().step_seconds(model_seconds);
  if (!(seconds >= 0))
    throw InvariantError(fmt::format("replica {}: a step of {} prefill tokens and {} decodes priced at {} s", index_,
                                     shape.prefill_tokens, shape.decode_seqs, seconds));
  if (seconds > units::kMaxSimulatedSeconds)
    throw InputError(fmt::format("replica {} ({}): one step of {} prefill tokens and {} decodes would take {:g} s, beyond the "
                                 "{:g} s limit of simulated time; check the device's compute rates and bandwidths",
                                 index_, plan_.device->name, shape.prefill_tokens, shape.decode_seqs, seconds,
                                 units::kMaxSimulatedSeconds));
  // Offload over the platform: the offload side's compute and the link's traffic leave the step's
  // own node when the sides take turns (see add_offload_side).
  const bool turns = offload_engine_ && !pricer_.last_offload_pipelined();
  const double compute = turns ? std::max(0.0, seconds - pricer_.last_offload_link() - pricer_.last_offload()) : seconds;
  if (layerwise_ids_.empty()) {
    step_node_ = graph.add_compute("step", engine, compute, move_ids_);
    last_layer_node_.reset();
  } else {
    // Loads streamed layer by layer: layer i computes once layer i's KV is in, so the step ends at
    // max(all layers but the last, the loads) + the last layer (a pipeline of `layers` stages).
    const double last = compute / static_cast<double>(std::max<std::int64_t>(1, model_.num_hidden_layers));
    step_node_ = graph.add_compute("step", engine, compute - last, move_ids_);
    layerwise_ids_.push_back(step_node_);
    last_layer_node_ = graph.add_compute("step_last_layer", engine, last, layerwise_ids_);
  }
  if (offload_engine_) add_offload_side(graph);
  set_priced(draft_gpu);
}

void Replica::add_offload_side(OpGraph& graph) {
  // The offload side's ops run on its node host's engine, shared with every other replica of the
  // node that offloads there; each rank's bytes go to it and come back over the rank's own route
  // to the host DRAM, contending with every other flow there. Sides that take turns (no
  // pipelining) run the chain GPU -> bytes out -> offload ops -> bytes back (the layers' turns
  // summed), the per-crossing latencies the analytic link has beyond the flows' own charged as
  // their setup: on an idle node the step takes exactly its priced time. Pipelined sides overlap:
  // the offload ops and the flows start with the step, which ends when the last finishes.
  const serving::OffloadPlan& o = *plan_.offload;
  const double out = pricer_.last_offload_bytes_out(), back = pricer_.last_offload_bytes() - out;
  const bool serial = !pricer_.last_offload_pipelined();
  std::vector<NodeId> after;
  if (serial) after.push_back(last_layer_node_ ? *last_layer_node_ : step_node_);
  else after = move_ids_;
  if (!(out > 0 || back > 0 || pricer_.last_offload() > 0)) return;  // nothing offloaded this step
  const double flows = (out > 0 ? 1.0 : 0.0) + (back > 0 ? 1.0 : 0.0);
  const double setup = serial ? std::max(0.0, pricer_.last_offload_link() - o.link_seconds(out, back) - flows * o.link.latency) : 0.0;
  std::vector<NodeId> sent;
  if (out > 0)
    for (const auto& device_tier : plan_.device_tiers)
      sent.push_back(graph.add_move("offload_out", device_tier, plan_.offload_tier, out, after, 1 << 20, setup));
  const std::span<const NodeId> before = serial && !sent.empty() ? std::span<const NodeId>(sent) : std::span<const NodeId>(after);
  const NodeId offloaded = graph.add_compute("offload", *offload_engine_, pricer_.last_offload(), before);
  if (back > 0)
    for (const auto& device_tier : plan_.device_tiers)
      graph.add_move("offload_back", plan_.offload_tier, device_tier, back,
                     serial ? std::span<const NodeId>(&offloaded, 1) : std::span<const NodeId>(after), 1 << 20, out > 0 ? 0.0 : setup);
}

void Replica::set_priced(double draft_gpu) {
  row_.set(serving_metrics::kGpuTime, pricer_.last_gpu() + draft_gpu);
  row_.set(serving_metrics::kHostTime, pricer_.last_host());
  if (plan_.offload) {
    row_.set(serving_metrics::kOffloadTime, pricer_.last_offload());
    row_.set(serving_metrics::kOffloadLinkBytes, pricer_.last_offload_bytes());
    if (plan_.offload->layers) row_.set(serving_metrics::kOffloadStreamedBytes, pricer_.last_streamed_bytes());
  }
}

std::int64_t Replica::plan_drafts(policies::Sequence& s) {
  // No draft for the last token; fewer when the device blocks for their KV are not free (the
  // verification writes K/V at every draft position; rejected ones are overwritten later).
  std::int64_t drafts = std::min<std::int64_t>(plan_.speculation->k, s.output_tokens - s.generated - 1);
  if (drafts <= 0 || s.kv_tier != serving::kDeviceTier) return 0;
  policies::KvManager& kv = *plan_.kv;
  while (drafts > 0 && kv.extra_blocks(s, s.computed + 1 + drafts) > kv.free_blocks()) --drafts;
  if (drafts > 0) kv.grow(s, s.computed + 1 + drafts);
  return drafts;
}

void Replica::set_row(double start, const models::BatchShape& shape, std::int64_t batch_seqs, std::int64_t swap_out_tokens,
                      std::int64_t swap_in_tokens) {
  row_.start = start;
  row_.set(serving_metrics::kSwapOutTokens, swap_out_tokens);
  row_.set(serving_metrics::kSwapInTokens, swap_in_tokens);
  row_.set(serving_metrics::kPrefillTokens, shape.prefill_tokens);
  row_.set(serving_metrics::kDecodeSeqs, shape.decode_seqs);
  row_.set(serving_metrics::kBatchSeqs, batch_seqs);
  row_.set(serving_metrics::kKvBlocksUsed, plan_.kv->used_blocks());
  row_.set(serving_metrics::kPrefillChunks, shape.prefill_chunks);
  row_.set(serving_metrics::kPrefillContextTokens, shape.prefill_kv_read_tokens - static_cast<double>(shape.prefill_tokens));
  row_.set(serving_metrics::kPrefillAttentionPairs, shape.prefill_attn_pairs);
  row_.set(serving_metrics::kLogitTokens, shape.logit_tokens);
  row_.set(serving_metrics::kDecodeContextTokens, shape.decode_context_tokens);
}

Replica::SteadyRun Replica::run_steady_decodes(double horizon, EngineId engine, OpGraph& graph) {
  // The scheduler's promise (Scheduler::steady_decode): with nothing waiting and every running
  // sequence decoding, its batch is each running sequence, in order, with one token, reserved
  // through reserve_running. While no sequence finishes, no prompt waits and the free blocks
  // cover a block for everyone, so nothing can be evicted, consecutive steps differ only in their
  // contexts (one token longer each): they are run here, each with the reservations, row, price
  // and end time the general path would give it, without building a batch or an op graph.
  SteadyRun run;
  auto& running = queues_.running();
  // Speculation gains a drawn number of tokens per step: no steady run of one token per step.
  // Offload flows over the platform need the general path's op graph.
  if (controllers_ || draft_pricer_ || !plan_.offload_tier.empty() || running.empty() || !queues_.waiting().empty() ||
      !plan_.scheduler->steady_decode())
    return run;
  std::int64_t remaining = std::numeric_limits<std::int64_t>::max();
  models::BatchShape shape;
  const std::int64_t block = plan_.kv->block_size();
  steady_.clear();
  steady_base_.clear();
  for (std::size_t i = 0; i < running.size(); ++i) {
    const policies::Sequence* s = running[i];
    if (!s->decoding() || s->kv_tier != serving::kDeviceTier) return run;
    remaining = std::min(remaining, s->output_tokens - s->generated);
    shape.add_decode(s->computed + 1);
    steady_base_.push_back({s->computed, s->generated});
    // The step (counted from 0) whose token no longer fits the blocks it holds.
    steady_.push_back({static_cast<std::int64_t>(s->blocks.size()) * block - s->computed, i});
  }
  // Block reservations come due in step order and, within a step, in running order (the
  // scheduler's): a min-heap on (step, index).
  std::make_heap(steady_.begin(), steady_.end(), std::greater<>());
  const auto n = static_cast<std::int64_t>(running.size());
  // Rows carry what changes from step to step; the rest is set once.
  set_row(free_at_, shape, n, 0, 0);
  row_.set(serving_metrics::kTransferTime, 0.0);
  row_.set(serving_metrics::kPrefixLookupTokens, 0);
  row_.set(serving_metrics::kPrefixHitTokens, 0);
  row_.set(serving_metrics::kPrefixLoadedTokens, 0);
  std::int64_t steps = 0;
  // The step in which a sequence finishes takes the general path (completion, release, listeners).
  for (; steps < remaining - 1; ++steps) {
    if (plan_.kv->free_blocks() < n) break;  // a reservation could evict: the scheduler decides
    while (steady_.front().first <= steps) {
      std::pop_heap(steady_.begin(), steady_.end(), std::greater<>());
      auto& due = steady_.back();
      policies::Sequence& s = *running[due.second];
      // Brought up to this step (the others catch up at the end): what reserve_running reads.
      s.computed = steady_base_[due.second].first + steps;
      s.generated = steady_base_[due.second].second + steps;
      if (!queues_.reserve_running(s, 1)) throw InvariantError(fmt::format("replica {}: steady decode could not reserve KV", index_));
      due.first += block;
      std::push_heap(steady_.begin(), steady_.end(), std::greater<>());
    }
    // A reservation that pushed a cached block down a tier moves bytes before the step: the
    // general path runs this step (its reservations are made) with the copies.
    if (!plan_.kv->store().pending_transfers().empty()) break;
    const double start = free_at_;
    // Host work of the reservations (vAttention mapping pages), as the general path adds it.
    const double seconds = plan_.kv->take_host_work().step_seconds(pricer_.price(shape));
    const double end = start + seconds;
    if (!(seconds >= 0 && end <= units::kMaxSimulatedSeconds)) break;  // the general path reports it
    row_.start = start;
    row_.set(serving_metrics::kKvBlocksUsed, plan_.kv->used_blocks());
    row_.set(serving_metrics::kDecodeContextTokens, shape.decode_context_tokens);
    set_priced(0);
    // A step that reaches the next arrival is an event (what Executor::try_run_ahead refuses):
    // planned here, its effects applied by end_steady_step when it ends.
    if (!(start < horizon && end < horizon)) {
      graph.clear();
      move_ids_.clear();
      graph.add_compute("step", engine, seconds, move_ids_);
      run.planned = true;
      steady_batch_ = running.size();
      break;
    }
    row_.duration = end - start;
    free_at_ = end;
    recorder_.on_step(row_);
    shape.decode_context_tokens += static_cast<double>(n);
  }
  for (std::size_t i = 0; i < running.size(); ++i) {
    running[i]->computed = steady_base_[i].first + steps;
    running[i]->generated = steady_base_[i].second + steps;
  }
  run.ahead = steps;
  return run;
}

void Replica::end_steady_step(double end) {
  // What end_step does for a batch of decodes none of which finishes.
  row_.duration = end - row_.start;
  free_at_ = end;
  recorder_.on_step(row_);
  auto& running = queues_.running();
  for (std::size_t i = 0; i < steady_batch_; ++i) {
    ++running[i]->computed;
    ++running[i]->generated;
  }
  // A migration that began during the step (at a controller's look) pauses its sequence here.
  if (!pauses_.empty()) serve_pauses();
}

void Replica::check_batch() {
  // What the scheduler returned must be runnable: each sequence once, a positive number of its
  // pending tokens, and KV already reserved in device memory for them (through the queues'
  // admit_head / reserve_running). Otherwise tokens would be "computed" without memory.
  // A mark unique to this step of this instance (sequences move between instances).
  const std::uint64_t mark = (static_cast<std::uint64_t>(index_ + 1) << 40) | ++batch_count_;
  for (const auto& item : batch_) {
    const policies::Sequence* s = item.seq;
    if (!s) throw InvariantError(fmt::format("replica {}: the scheduler returned a batch item without a sequence", index_));
    if (s->handed_off || s->finished())
      throw InvariantError(fmt::format("replica {}: the scheduler chose sequence {}, which {}", index_, s->id,
                                       s->finished() ? "has already finished" : "has been handed to another instance"));
    if (item.tokens < 1 || item.tokens > s->pending())
      throw InvariantError(fmt::format("replica {}: the scheduler fed {} tokens to sequence {}, which has {} pending "
                                       "(expected 1 to {})", index_, item.tokens, s->id, s->pending(), s->pending()));
    const std::int64_t held = plan_.kv->device_blocks(*s), need = plan_.kv->blocks_for(s->computed + item.tokens);
    if (held < need)
      throw InvariantError(fmt::format("replica {}: the scheduler fed {} tokens to sequence {} ({} computed), which needs "
                                       "{} KV blocks in device memory but holds {}: KV must be reserved before scheduling",
                                       index_, item.tokens, s->id, s->computed, need, held));
    // Marked with this step's number: a second item of the same sequence finds the mark.
    if (s->batch_mark == mark)
      throw InvariantError(fmt::format("replica {}: the scheduler put sequence {} in one batch twice", index_, s->id));
    item.seq->batch_mark = mark;
  }
}

void Replica::end_step(const OpGraph& graph, double end) {
  // Waiting for KV copies: before the step computes, and (layer-wise loads) before its last layer.
  const GraphNode& body = graph.nodes()[step_node_];
  double waited = body.start - row_.start;
  if (last_layer_node_) waited += std::max(0.0, graph.nodes()[*last_layer_node_].start - body.end);
  row_.set(serving_metrics::kTransferTime, waited);
  if (draft_pricer_) {
    // Drafts accepted per speculating sequence, drawn now so the step's row carries them.
    accepted_.assign(batch_.size(), 0);
    std::int64_t total = 0;
    for (std::size_t i = 0; i < batch_.size() && i < drafts_.size(); ++i)
      if (drafts_[i] > 0) {
        const policies::Sequence& s = *batch_[i].seq;
        total += accepted_[i] = plan_.speculation->accepted(drafts_[i], plan_.speculation->draw(s.id, s.generated + 1));
      }
    row_.set(serving_metrics::kAcceptedDraftTokens, total);
  }
  row_.duration = end - row_.start;
  free_at_ = end;
  recorder_.on_step(row_);
  bool any_left = false;
  const auto self = static_cast<std::size_t>(index_);
  const bool caching = plan_.kv->caches_prefixes();
  for (std::size_t i = 0; i < batch_.size(); ++i) {
    const auto& item = batch_[i];
    policies::Sequence& s = *item.seq;
    s.computed += item.tokens;
    if (caching) plan_.kv->on_computed(s);  // its newly full blocks become findable
    if (s.computed != s.known()) continue;  // a prompt chunk that does not finish the prompt
    ++s.generated;
    if (draft_pricer_ && i < drafts_.size() && accepted_[i] > 0) {
      // Accepted drafts are output tokens whose KV the verification wrote; the target's own
      // token after them is the one pending.
      s.computed += accepted_[i];
      s.generated += accepted_[i];
      if (caching) plan_.kv->on_computed(s);
    }
    if (s.generated == 1) {
      s.first_token = end;
      recorder_.on_first_token(s.id, end);
      if (controllers_ && !s.finished())
        for (auto& c : *controllers_)
          if (c->on_prefill_done(s, self)) {
            // Handed off: it leaves this instance; its KV stays until the controller moves it.
            s.handed_off = true;
            add_outstanding(-1);
            any_left = true;
            break;
          }
    }
    if (s.finished()) {
      s.completion = end;
      plan_.kv->release(s);
      recorder_.on_complete(s.id, s.preemptions, end, index_);
      if (controllers_)
        for (auto& c : *controllers_) c->on_finish(s, self);
      add_outstanding(-1);
      any_left = true;
    }
  }
  if (any_left) {
    auto& running = queues_.running();
    running.erase(std::remove_if(running.begin(), running.end(),
                                 [](const policies::Sequence* s) { return s->finished() || s->handed_off; }),
                  running.end());
  }
  // Pauses for migrations, between steps: the KV of a paused sequence no longer changes.
  if (!pauses_.empty()) serve_pauses();
  if (controllers_)
    for (auto& c : *controllers_) c->on_step_end(self);
  // Last, once nothing here refers to them: the storage of ended sequences is recycled, then
  // listeners hear of the ends (a closed-loop client may issue its next request at once).
  if (!any_left) return;
  for (const auto& item : batch_) {
    if (!item.seq->finished()) continue;
    const std::int64_t id = item.seq->id;
    if (released_) released_(*item.seq);
    if (completed_) completed_(id, end);
  }
}

bool Replica::can_hold(const policies::Sequence& seq) const {
  return misfit(seq) == Misfit::none && plan_.kv->free_blocks() >= plan_.kv->blocks_for(seq.computed + 1);
}

std::vector<serving::BlockId> Replica::detach_kv(policies::Sequence& seq) {
  seq.handed_off = true;
  if (seq.kv_tier != serving::kDeviceTier)
    throw InvariantError(fmt::format("sequence {}: moving KV that is not in device memory", seq.id));
  std::vector<serving::BlockId> blocks = std::move(seq.blocks);
  seq.blocks.clear();
  seq.hashed_blocks = 0;  // the blocks it gets on the target carry no hashes yet
  return blocks;
}

void Replica::release_kv(const std::vector<serving::BlockId>& blocks) { plan_.kv->release_blocks(blocks); }

void Replica::reserve_kv(policies::Sequence& seq) {
  if (plan_.kv->free_blocks() < plan_.kv->blocks_for(seq.computed))
    throw InvariantError(fmt::format("replica {}: no room for sequence {}'s {} KV tokens", index_, seq.id, seq.computed));
  plan_.kv->grow(seq, seq.computed);
}

void Replica::adopt(policies::Sequence& seq, double now) {
  work_arrives(now);
  seq.handed_off = false;
  queues_.running().push_back(&seq);
  add_outstanding(1);
}

void Replica::requeue(policies::Sequence& seq, double now) {
  work_arrives(now);
  seq.handed_off = false;
  queues_.waiting().push_front(&seq);
  add_outstanding(1);
}

bool Replica::is_running(const policies::Sequence& seq) const {
  const auto& running = queues_.running();
  return std::find(running.begin(), running.end(), &seq) != running.end();
}

bool Replica::reserve_shadow(policies::Sequence& shadow, std::int64_t tokens) {
  if (plan_.kv->free_blocks() < plan_.kv->extra_blocks(shadow, tokens)) return false;
  plan_.kv->grow(shadow, tokens);
  return true;
}

void Replica::request_pause(policies::Sequence& seq, std::function<void(bool)> done) {
  pauses_.emplace_back(&seq, std::move(done));
}

void Replica::serve_pauses() {
  for (auto& [seq, done] : std::exchange(pauses_, {})) {
    auto& running = queues_.running();
    const auto it = std::find(running.begin(), running.end(), seq);
    const bool paused = it != running.end() && !seq->finished();
    if (paused) {
      running.erase(it);
      seq->handed_off = true;
      add_outstanding(-1);
    }
    done(paused);
  }
}

void Replica::close_kv_window() {
  if (kv_windows_ && kv_window_ >= 0) kv_windows_->roll(index_, kv_window_, lookup_total_, plan_.kv->tier_stats());
}

void Replica::check_drained() const {
  for (const serving::KvBlockStore* store : plan_.kv->stores()) {
    store->audit();
    for (std::size_t t = 0; t < store->tiers(); ++t)
      if (store->used(static_cast<serving::KvTierIndex>(t)) != 0)
        throw InvariantError(fmt::format("replica {}: {} KV blocks of tier {} still referenced after every request ended",
                                         index_, store->used(static_cast<serving::KvTierIndex>(t)),
                                         store->tier_name(static_cast<serving::KvTierIndex>(t))));
  }
}

policies::ReplicaLoad Replica::load() const {
  policies::ReplicaLoad l;
  l.outstanding = outstanding_;
  l.waiting = static_cast<std::int64_t>(queues_.waiting().size());
  l.kv_free_blocks = plan_.kv->free_blocks();
  l.kv_blocks = plan_.kv->total_blocks();
  l.kv_block_size = plan_.kv->block_size();
  return l;
}

std::int64_t Replica::cached_prefix_tokens(policies::Sequence& seq) const {
  // The lookup fills seq.block_hashes in this replica's block size and hashing; cleared before and
  // after, so that neither another replica's probe nor the admission reads them.
  seq.block_hashes.clear();
  const std::int64_t tokens = plan_.kv->lookup(seq).tokens;
  seq.block_hashes.clear();
  return tokens;
}

}  // namespace hetsim::sim
