// vLLM (v0 default) continuous batching: iteration-level scheduling that prioritizes prefills.
// When waiting requests fit (sequence slots, token budget, KV blocks above the watermark) the step
// runs their whole prompts (prefill-only batch); otherwise every running sequence decodes one token,
// evicting the most recently admitted ones when KV blocks run out. Prompts are never split.
#include <algorithm>

#include "sim/serving/scheduler.hpp"
#include "sim/core/registry.hpp"

namespace hetsim::policies {
namespace {

class VllmScheduler final : public Scheduler {
 public:
  explicit VllmScheduler(const config::Node& cfg)
      : max_num_seqs_(cfg.get<std::int64_t>("max_num_seqs").default_to(256).in_range(1, 1 << 20)),
        max_num_batched_tokens_(cfg.get<std::int64_t>("max_num_batched_tokens").default_to(8192).in_range(1, 1 << 24)) {}

  void schedule(ReplicaQueues& q, std::vector<ScheduledItem>& batch) override {
    std::int64_t budget = max_num_batched_tokens_;
    auto& running = q.running();
    while (!q.waiting().empty() && static_cast<std::int64_t>(running.size()) < max_num_seqs_) {
      Sequence& head = *q.waiting().front();
      const std::int64_t tokens = q.head_pending();  // less its cached prefix
      if (tokens > budget || !q.admit_head(tokens)) break;
      batch.push_back({&head, tokens});
      budget -= tokens;
    }
    if (!batch.empty()) return;
    // Decode step, oldest first; eviction takes the newest, so indices below i stay valid.
    for (std::size_t i = 0; i < running.size(); ++i) {
      Sequence& seq = *running[i];
      if (!q.reserve_running(seq, 1)) {
        q.evict_newest();  // seq is itself the newest and cannot grow: it waits for memory
        break;
      }
      batch.push_back({&seq, 1});
    }
  }

  std::optional<std::int64_t> unsplit_token_limit() const override { return max_num_batched_tokens_; }
  StepLimits step_limits() const override { return {max_num_batched_tokens_, max_num_seqs_}; }
  // Nothing waiting, every running sequence decoding: the decode pass above, one token each, in order.
  bool steady_decode() const override { return true; }

 private:
  std::int64_t max_num_seqs_;
  std::int64_t max_num_batched_tokens_;
};

}  // namespace
HETSIM_REGISTER(Scheduler, VllmScheduler, "vllm",
                "vLLM continuous batching, prefill-prioritized, whole prompts (max_num_seqs, max_num_batched_tokens)");
}  // namespace hetsim::policies
