// Strict priority scheduling with preemption (vLLM's --scheduling-policy priority; the priority
// classes of Llumnix and of QoS-aware serving): waiting requests are admitted highest priority
// first (workload.tenants priority; first come first served within a class), and when the next
// one has no KV room, running sequences of strictly lower priority are preempted, lowest class
// and newest first, until it has. A running sequence that cannot grow evicts the lowest class's
// newest too. Batching is Sarathi-Serve's chunked prefill (policies/scheduler/chunked_prefill.hpp).
//   max_num_seqs, max_num_batched_tokens (as sarathi)
#include <algorithm>
#include <vector>

#include "policies/scheduler/chunked_prefill.hpp"
#include "sim/core/registry.hpp"
#include "sim/serving/scheduler.hpp"

namespace hetsim::policies {
namespace {

class PriorityScheduler final : public Scheduler {
 public:
  explicit PriorityScheduler(const config::Node& cfg)
      : max_num_seqs_(cfg.get<std::int64_t>("max_num_seqs").default_to(256).in_range(1, 1 << 20)),
        chunk_size_(cfg.get<std::int64_t>("max_num_batched_tokens").default_to(512).in_range(1, 1 << 20)) {}

  void schedule(ReplicaQueues& q, std::vector<ScheduledItem>& batch) override {
    // Running sequences highest class first (admission order within a class), so that the newest
    // of the lowest class is last: the one every eviction below takes.
    std::stable_sort(q.running().begin(), q.running().end(), higher);
    order(q);
    if (make_room(q)) order(q);  // the preempted went to the front of the queue
    const std::int64_t budget = chunked_prefill::run_running(q, batch, chunk_size_);
    chunked_prefill::admit_waiting(q, batch, budget, max_num_seqs_, [](ReplicaQueues&) {}, [](const ScheduledItem&) {});
  }

  std::optional<std::int64_t> unsplit_token_limit() const override { return std::nullopt; }
  StepLimits step_limits() const override { return {chunk_size_, max_num_seqs_}; }
  bool steady_decode() const override { return true; }

 private:
  static bool higher(const Sequence* a, const Sequence* b) { return a->priority > b->priority; }
  static void order(ReplicaQueues& q) { std::stable_sort(q.waiting().begin(), q.waiting().end(), higher); }

  /// Preempts running sequences of a lower class than the head of the queue, lowest and newest
  /// first, until the head's first chunk fits above the watermark; whether any was preempted.
  bool make_room(ReplicaQueues& q) {
    if (q.waiting().empty()) return false;
    const Sequence& head = *q.waiting().front();
    KvManager& kv = q.kv();
    const std::int64_t need = kv.blocks_for(head.computed + std::min(head.pending(), chunk_size_)) + kv.watermark_blocks();
    bool any = false;
    while (kv.free_blocks() < need && !q.running().empty() && q.running().back()->priority < head.priority) {
      q.evict_newest();
      any = true;
    }
    return any;
  }

  std::int64_t max_num_seqs_;
  std::int64_t chunk_size_;
};

}  // namespace
HETSIM_REGISTER(Scheduler, PriorityScheduler, "priority",
                "strict priority classes with preemption of lower classes, over Sarathi-Serve chunked prefill");
}  // namespace hetsim::policies
