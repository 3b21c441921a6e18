// Sarathi-Serve chunked prefill with stall-free batching (Agrawal et al., OSDI'24, Sec. 4): every
// step first decodes all running sequences, then fills the remaining token budget with prompt chunks, continuing partial prefills before admitting new requests. Decodes never
// stall behind a long prompt, at the price of re-reading the prompt's KV for every chunk.
#include <algorithm>

#include "policies/scheduler/chunked_prefill.hpp"
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
    const std::int64_t budget = chunked_prefill::run_running(q, batch, chunk_size_);
    chunked_prefill::admit_waiting(q, batch, budget, max_num_seqs_, [](ReplicaQueues&) {}, [](const ScheduledItem&) {});  // FCFS
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
