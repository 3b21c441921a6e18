#pragma once
// Multi-turn conversations (workload.source: sessions): sessions start by an arrival process; each
// has a number of turns, and turn k's prompt is the whole conversation so far (every earlier
// turn's new tokens and output) followed by its own new tokens. A turn is sent `think_time` after
// the previous one ended, so a session's turns never overlap and its next prompt can reuse the KV
// of the last (Pensieve, Yu et al. EuroSys'25; what a prefix cache with tiers keeps between turns).
// Content ids describe each session's stream of tokens position by position (64 tokens an id), the
// outputs included, so turn k + 1 finds turn k's prompt and output cached, and nothing of another
// session.
//
//   workload:
//     source: sessions
//     sessions: 200                               # conversations (or duration: the last start)
//     arrival: {process: poisson, rate: 0.5}      # session starts
//     turns: {dist: uniform, min: 2, max: 8}
//     new_tokens: {dist: lognormal, median: 200, sigma: 0.8}   # the user's tokens per turn
//     output_tokens: {dist: lognormal, median: 250, sigma: 0.6}
//     think_time: {dist: exponential, mean: 20 s}
//     system_prompt: 0                            # tokens every session starts with (shared by all)
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <queue>
#include <unordered_map>
#include <vector>

#include "workload/arrivals.hpp"

namespace hetsim::workload {

/// Issues a session's first turn at its start time and each next turn its think time after the
/// previous one ended (or was rejected or dropped).
class SessionArrivals final : public Arrivals {
 public:
  /// `pool` yields the turns session by session (sessions in start order, each one's turns in
  /// order, as the sessions source delivers them).
  SessionArrivals(std::unique_ptr<RequestStream> pool, const WorkloadTotals& totals);
  std::optional<double> next_time() const override;
  Issue pop() override;
  void on_end(std::int64_t id, double now) override;
  bool reacts_to_ends() const override { return true; }
  bool done() const override { return ahead_.empty() && due_.empty() && in_flight_.empty(); }
  int clients() const override { return 0; }
  bool sessions() const override { return true; }
  std::string describe() const override;

 private:
  /// A session's next turn, due at `time`; ties go out in the order they were scheduled.
  struct Due {
    double time;
    std::uint64_t order;
    std::int64_t session;
    bool operator>(const Due& o) const { return time != o.time ? time > o.time : order > o.order; }
  };
  /// Reads the next session's turns from the pool into `ahead_`.
  void read_session();
  /// Issues the front turn of `session`'s remaining ones at `time`.
  Issue issue(std::int64_t session, double time);

  std::unique_ptr<RequestStream> pool_;
  WorkloadTotals totals_;
  std::optional<Request> peek_;      ///< the pool's next row, read ahead to find where a session ends
  std::deque<Request> ahead_;        ///< the next session to start: all its turns
  std::priority_queue<Due, std::vector<Due>, std::greater<>> due_;
  std::unordered_map<std::int64_t, std::deque<Request>> remaining_;  ///< session -> turns not yet issued
  std::unordered_map<std::int64_t, std::int64_t> in_flight_;         ///< request id -> its session, if more turns follow
  std::int64_t issued_ = 0;
  std::uint64_t order_ = 0;
};

}  // namespace hetsim::workload
