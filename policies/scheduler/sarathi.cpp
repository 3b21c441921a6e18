// Sarathi-Serve chunked prefill with stall-free batching (Agrawal et al., OSDI'24, Sec. 4): every
// step first decodes all running sequences, then fills the remaining token budget with prompt chunks, continuing partial prefills before admitting new requests. Decodes never
// stall behind a long prompt, at the price of re-reading the prompt's KV for every chunk.
#include <algorithm>

#include "sim/serving/scheduler.hpp"
#include "sim/core/registry.hpp"

namespace hetsim::policies {
namespace {

class SarathiScheduler final : public Scheduler {
 public:
  explicit SarathiScheduler(const config::Node& cfg)
      : max_num_seqs_(cfg.get<std::int64_t>("max_num_seqs").default_to(256).in_range(1, 1 << 20)),
        // The per-step token budget (Sarathi's chunk size) under vLLM's name for it, so that
        // vllm and sarathi read the same keys and a sweep can switch between them.
        chunk_size_(cfg.get<std::int64_t>("max_num_batched_tokens").default_to(512).in_range(1, 1 << 20)) {}

  void schedule(ReplicaQueues& q, std::vector<ScheduledItem>& batch) override {
    auto& running = q.running();
    // Decodes always run (1 token each); prompt chunks share what is left of the budget. One pass,
    // oldest first: eviction takes the newest, which is never already in the batch.
    const auto decodes = std::count_if(running.begin(), running.end(), [](const Sequence* s) { return s->decoding(); });
    std::int64_t budget = std::max<std::int64_t>(0, chunk_size_ - decodes);
    for (std::size_t i = 0; i < running.size(); ++i) {
      Sequence& seq = *running[i];
      const bool decode = seq.decoding();
      const std::int64_t tokens = decode ? 1 : std::min(seq.pending(), budget);
      if (tokens == 0) continue;
      if (!q.reserve_running(seq, tokens)) {
        q.evict_newest();  // seq is the newest and cannot grow: it waits for memory
        break;
      }
      batch.push_back({&seq, tokens});
      if (!decode) budget -= tokens;
    }
    // New prompts while budget and sequence slots remain.
    while (budget > 0 && !q.waiting().empty() && static_cast<std::int64_t>(running.size()) < max_num_seqs_) {
      Sequence& head = *q.waiting().front();
      const std::int64_t tokens = std::min(q.head_pending(), budget);  // less its cached prefix
      if (!q.admit_head(tokens)) break;
      batch.push_back({&head, tokens});
      budget -= tokens;
    }
  }

  std::optional<std::int64_t> unsplit_token_limit() const override { return std::nullopt; }
  StepLimits step_limits() const override { return {chunk_size_, max_num_seqs_}; }
  // Nothing waiting, every running sequence decoding: the decode pass above, one token each, in order.
  bool steady_decode() const override { return true; }

 private:
  std::int64_t max_num_seqs_;
  std::int64_t chunk_size_;
};

}  // namespace
HETSIM_REGISTER(Scheduler, SarathiScheduler, "sarathi",
                "Sarathi-Serve chunked prefill, stall-free: decodes first, prompt chunks fill max_num_batched_tokens per step");
}  // namespace hetsim::policies
