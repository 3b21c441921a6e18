#pragma once
// The two passes of Sarathi-Serve's stall-free batching (Agrawal et al., OSDI'24, Sec. 4), shared
// by the schedulers that build on it and differ only in which waiting request goes next (VTC
// fairness, priorities).
#include <algorithm>
#include <vector>

#include "sim/serving/scheduler.hpp"

namespace hetsim::policies::chunked_prefill {

/// First pass, oldest first: every running sequence decodes one token, partial prefills continue
/// with what is left of `chunk_size` tokens. Eviction takes the newest, which is never already in
/// the batch. Returns the budget left for new prompts.
inline std::int64_t run_running(ReplicaQueues& q, std::vector<ScheduledItem>& batch, std::int64_t chunk_size) {
  auto& running = q.running();
  const auto decodes = std::count_if(running.begin(), running.end(), [](const Sequence* s) { return s->decoding(); });
  std::int64_t budget = std::max<std::int64_t>(0, chunk_size - decodes);
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
  return budget;
}

/// Second pass: new prompts while `budget` and sequence slots remain. Before each admission
/// `pick(q)` may move the waiting request to admit next to the front; `admitted(item)` hears of it.
template <class Pick, class Admitted>
void admit_waiting(ReplicaQueues& q, std::vector<ScheduledItem>& batch, std::int64_t budget, std::int64_t max_num_seqs,
                   Pick&& pick, Admitted&& admitted) {
  while (budget > 0 && !q.waiting().empty() && static_cast<std::int64_t>(q.running().size()) < max_num_seqs) {
    pick(q);
    Sequence& head = *q.waiting().front();
    const std::int64_t tokens = std::min(q.head_pending(), budget);  // less its cached prefix
    if (!q.admit_head(tokens)) break;
    batch.push_back({&head, tokens});
    admitted(batch.back());
    budget -= tokens;
  }
}

}  // namespace hetsim::policies::chunked_prefill
