#include "sim/engine/replica.hpp"

#include <algorithm>

#include "sim/core/error.hpp"

namespace hetsim::sim {

Replica::Replica(int index, ReplicaPlan& plan, const models::ModelSpec& model, std::int64_t max_model_len,
                 Recorder& recorder)
    : index_(index),
      plan_(plan),
      model_(model),
      max_model_len_(max_model_len),
      recorder_(recorder),
      cost_(*plan.device, plan.weights_in_storage),
      queues_(*plan.kv, *plan.preemption) {
  row_.replica = index;
  row_.set(serving_metrics::kKvBlocksTotal, plan.kv->total_blocks());
}

std::string Replica::rejection_reason(const policies::Sequence& seq) const {
  const std::int64_t total = seq.prompt_tokens + seq.output_tokens;
  if (total > max_model_len_)
    return fmt::format("exceeds_max_model_len: prompt + output = {} tokens > max_model_len {}", total, max_model_len_);
  const std::int64_t blocks = plan_.kv->blocks_for(seq.peak_kv_tokens());
  if (blocks > plan_.kv->total_blocks())
    return fmt::format("exceeds_kv_capacity: needs {} KV blocks > {} on the replica", blocks, plan_.kv->total_blocks());
  if (auto limit = plan_.scheduler->unsplit_token_limit(); limit && seq.peak_kv_tokens() > *limit)
    return fmt::format("exceeds_max_num_batched_tokens: up to {} tokens in one step > {} (prompts are not chunked)",
                       seq.peak_kv_tokens(), *limit);
  return {};
}

bool Replica::accept(policies::Sequence& seq, double now) {
  seq.replica = index_;
  if (auto reason = rejection_reason(seq); !reason.empty()) {
    recorder_.on_reject(seq.id, index_, std::move(reason), now);
    return false;
  }
  queues_.waiting().push_back(&seq);
  ++outstanding_;
  return true;
}

double Replica::begin_step(double now) {
  batch_.clear();
  plan_.scheduler->schedule(queues_, batch_);
  if (batch_.empty())
    throw InvariantError(fmt::format("replica {}: {} waiting and {} running sequences but the scheduler chose no work",
                                     index_, queues_.waiting().size(), queues_.running().size()));
  copies_ = {};
  models::BatchShape shape;
  for (const auto& item : batch_) {
    policies::Sequence& s = *item.seq;
    if (s.swapped_tokens > 0) copies_.in_tokens += plan_.preemption->swap_in(s);
    if (s.first_scheduled < 0) {
      s.first_scheduled = now;
      recorder_.on_first_scheduled(s.id, index_, now);
    }
    if (s.decoding())
      shape.add_decode(s.computed + 1);
    else
      shape.add_prefill(item.tokens, s.computed, s.computed + item.tokens == s.known());
  }
  copies_.out_tokens = plan_.preemption->take_swapped_out();
  copies_.out_bytes = static_cast<double>(copies_.out_tokens) * plan_.kv_bytes_per_token;
  copies_.in_bytes = static_cast<double>(copies_.in_tokens) * plan_.kv_bytes_per_token;
  if (copies_.any() && plan_.node < 0)
    throw InvariantError(fmt::format("replica {}: KV copies planned but the replica has no node to move them over", index_));
  row_.set(serving_metrics::kSwapOutTokens, copies_.out_tokens);
  row_.set(serving_metrics::kSwapInTokens, copies_.in_tokens);
  row_.set(serving_metrics::kTransferTime, 0);
  models::step_ops(model_, shape, plan_.tensor_parallel, ops_);
  row_.start = now;
  row_.set(serving_metrics::kPrefillTokens, shape.prefill_tokens);
  row_.set(serving_metrics::kDecodeSeqs, shape.decode_seqs);
  row_.set(serving_metrics::kBatchSeqs, batch_.size());
  row_.set(serving_metrics::kKvBlocksUsed, plan_.kv->used_blocks());
  return cost_.step_time(ops_);
}

void Replica::end_step(double end) {
  row_.duration = end - row_.start;
  recorder_.on_step(row_);
  bool any_finished = false;
  for (const auto& item : batch_) {
    policies::Sequence& s = *item.seq;
    s.computed += item.tokens;
    if (s.computed != s.known()) continue;  // a prompt chunk that does not finish the prompt
    ++s.generated;
    if (s.generated == 1) {
      s.first_token = end;
      recorder_.on_first_token(s.id, end);
    }
    if (s.finished()) {
      s.completion = end;
      plan_.kv->release(s);
      recorder_.on_complete(s.id, s.preemptions, end);
      --outstanding_;
      any_finished = true;
    }
  }
  if (any_finished) {
    auto& running = queues_.running();
    running.erase(std::remove_if(running.begin(), running.end(), [](const policies::Sequence* s) { return s->finished(); }),
                  running.end());
  }
}

policies::ReplicaLoad Replica::load() const {
  policies::ReplicaLoad l;
  l.outstanding = outstanding_;
  l.waiting = static_cast<std::int64_t>(queues_.waiting().size());
  l.kv_free_blocks = plan_.kv->free_blocks();
  return l;
}

}  // namespace hetsim::sim
