// Virtual Token Counter fair scheduling (Sheng et al., "Fairness in Serving Large Language
// Models", OSDI'24): each tenant (workload.tenants) has a counter of the service it received,
// w_p per prompt token computed plus w_q per output token (the paper's weights: 1 and 2); the next
// request admitted is the oldest waiting one of the tenant with the smallest counter. A tenant
// that becomes backlogged again has its counter lifted to the least counter of the tenants that
// stayed backlogged, so idling never banks credit. Batching is Sarathi-Serve's chunked prefill
// (policies/scheduler/chunked_prefill.hpp). Over any interval where two tenants stay backlogged,
// their service differs by at most 2 x max(w_p x prompt, w_q x output) tokens of one request
// (the paper's Theorem 4.2 bound, with max_num_batched_tokens).
//   input_weight (w_p, default 1), output_weight (w_q, default 2),
//   max_num_seqs, max_num_batched_tokens (as sarathi)
// Requests without a tenant share one counter.
#include <algorithm>
#include <limits>
#include <vector>

#include "policies/scheduler/chunked_prefill.hpp"
#include "sim/core/registry.hpp"
#include "sim/serving/scheduler.hpp"

namespace hetsim::policies {
namespace {

class VtcScheduler final : public Scheduler {
 public:
  explicit VtcScheduler(const config::Node& cfg)
      : max_num_seqs_(cfg.get<std::int64_t>("max_num_seqs").default_to(256).in_range(1, 1 << 20)),
        chunk_size_(cfg.get<std::int64_t>("max_num_batched_tokens").default_to(512).in_range(1, 1 << 20)),
        w_input_(cfg.get<double>("input_weight").default_to(1.0).in_range(0.0, 1e6)),
        w_output_(cfg.get<double>("output_weight").default_to(2.0).in_range(0.0, 1e6)) {}

  void schedule(ReplicaQueues& q, std::vector<ScheduledItem>& batch) override {
    lift(q);
    const std::int64_t budget = chunked_prefill::run_running(q, batch, chunk_size_);
    for (const ScheduledItem& item : batch) charge(item);
    chunked_prefill::admit_waiting(
        q, batch, budget, max_num_seqs_, [&](ReplicaQueues& queues) { least_served_first(queues); },
        [&](const ScheduledItem& item) { charge(item); });
  }

  std::optional<std::int64_t> unsplit_token_limit() const override { return std::nullopt; }
  StepLimits step_limits() const override { return {chunk_size_, max_num_seqs_}; }
  // Every decode is charged to its tenant here, so no step may run without schedule().
  bool steady_decode() const override { return false; }

 private:
  std::size_t slot(const Sequence& s) {
    const auto k = static_cast<std::size_t>(s.tenant + 1);  // tenant -1 (none) -> 0
    if (k >= counter_.size()) counter_.resize(k + 1, 0.0), backlogged_.resize(k + 1, 0);
    return k;
  }
  void charge(const ScheduledItem& item) {
    // A decode feeds its last token to produce the next: output service; else prompt (or recompute).
    counter_[slot(*item.seq)] += (item.seq->decoding() ? w_output_ : w_input_) * static_cast<double>(item.tokens);
  }

  /// Counter lift for tenants that became backlogged since the last step.
  void lift(ReplicaQueues& q) {
    std::vector<char> now(counter_.size(), 0);
    auto mark = [&](const Sequence* s) {
      const std::size_t k = slot(*s);
      if (k >= now.size()) now.resize(counter_.size(), 0);
      now[k] = 1;
    };
    for (const Sequence* s : q.waiting()) mark(s);
    for (const Sequence* s : q.running()) mark(s);
    now.resize(counter_.size(), 0);
    double floor = std::numeric_limits<double>::infinity();
    for (std::size_t k = 0; k < now.size(); ++k)
      if (now[k] && backlogged_[k]) floor = std::min(floor, counter_[k]);
    if (floor < std::numeric_limits<double>::infinity())
      for (std::size_t k = 0; k < now.size(); ++k)
        if (now[k] && !backlogged_[k]) counter_[k] = std::max(counter_[k], floor);
    backlogged_ = std::move(now);
  }

  /// Moves the oldest waiting request of the least-served waiting tenant to the front.
  void least_served_first(ReplicaQueues& q) {
    auto& waiting = q.waiting();
    std::size_t best = 0;
    for (std::size_t i = 1; i < waiting.size(); ++i)
      if (counter_[slot(*waiting[i])] < counter_[slot(*waiting[best])]) best = i;
    if (best == 0) return;
    Sequence* chosen = waiting[best];
    waiting.erase(waiting.begin() + static_cast<std::ptrdiff_t>(best));
    waiting.push_front(chosen);
  }

  std::int64_t max_num_seqs_;
  std::int64_t chunk_size_;
  double w_input_, w_output_;
  std::vector<double> counter_;    ///< per tenant + 1: service received, in weighted tokens
  std::vector<char> backlogged_;   ///< per tenant + 1: had requests waiting or running at the last step
};

}  // namespace
HETSIM_REGISTER(Scheduler, VtcScheduler, "vtc",
                "Virtual Token Counter fairness across tenants (Sheng et al. OSDI'24) over Sarathi-Serve chunked prefill");
}  // namespace hetsim::policies
