#pragma once
// Batch scheduler interface (iteration-level scheduling, Orca/vLLM): before every model step the
// scheduler picks which sequences run and how many of their pending tokens each feeds.
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "sim/serving/kv_manager.hpp"
#include "sim/serving/preemption.hpp"
#include "sim/serving/sequence.hpp"

namespace hetsim::policies {

/// One sequence's share of a step.
struct ScheduledItem {
  Sequence* seq = nullptr;
  std::int64_t tokens = 0;  ///< pending tokens fed this step
};

/// A replica's queues plus the KV and preemption mechanisms schedulers act through.
class ReplicaQueues {
 public:
  ReplicaQueues(KvManager& kv, Preemption& preemption) : kv_(kv), preemption_(preemption) {}

  std::deque<Sequence*>& waiting() { return waiting_; }
  const std::deque<Sequence*>& waiting() const { return waiting_; }
  std::vector<Sequence*>& running() { return running_; }
  const std::vector<Sequence*>& running() const { return running_; }
  KvManager& kv() { return kv_; }

  /// Ensures `seq` (running) holds KV for `tokens` more tokens, evicting the most recently admitted
  /// running sequences other than `seq` as needed (vLLM's LIFO victim order, so the oldest always
  /// progresses). False if even that cannot make room.
  bool reserve_running(Sequence& seq, std::int64_t tokens);
  /// Tokens the head of the waiting queue would feed once admitted: its pending tokens less the
  /// prefix the KV manager finds cached (prefix caching; vLLM's get_computed_blocks).
  std::int64_t head_pending();
  /// Admits the head of the waiting queue with `tokens` to feed (after its cached prefix; at most
  /// head_pending()) if the blocks fit above the watermark (the watermark is waived when nothing
  /// runs). Never evicts.
  bool admit_head(std::int64_t tokens);
  /// Evicts the most recently admitted running sequence back to the front of the waiting queue.
  void evict_newest();

 private:
  KvManager& kv_;
  Preemption& preemption_;
  std::deque<Sequence*> waiting_;
  std::vector<Sequence*> running_;
};

/// The largest step a scheduler can form, which the engine sizes its activation memory for (vLLM's
/// profile run: max_num_batched_tokens tokens from max_num_seqs sequences).
struct StepLimits {
  std::int64_t tokens = 0;     ///< tokens fed in one step
  std::int64_t sequences = 0;  ///< sequences in one step
};

class Scheduler {
 public:
  static constexpr const char* kKind = "scheduler";
  virtual ~Scheduler() = default;
  /// Fills `batch` (empty on entry) with the next step's work.
  virtual void schedule(ReplicaQueues& queues, std::vector<ScheduledItem>& batch) = 0;
  /// Largest number of tokens one sequence may feed in one step, if prompts are never split; a
  /// request whose prompt + output exceeds it could never run after a preemption and is rejected.
  virtual std::optional<std::int64_t> unsplit_token_limit() const = 0;
  /// The largest step it forms.
  virtual StepLimits step_limits() const = 0;
  /// Whether, when nothing waits and every running sequence is decoding, schedule() always returns
  /// each running sequence in order with one token, reserving it through reserve_running (and
  /// nothing else when those reservations need no eviction). The engine then runs such steps
  /// without asking (Replica::run_steady_decodes); false keeps every step a schedule() call.
  virtual bool steady_decode() const { return false; }
};

}  // namespace hetsim::policies
