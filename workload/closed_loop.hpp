#pragma once
// Closed-loop clients (vLLM benchmark_serving --max-concurrency, genai-perf --concurrency): N
// clients start together at time 0; each sends a request, waits until it ends, thinks, and sends
// the next, until the pool is used up. At most N requests are ever in flight.
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <queue>
#include <unordered_map>
#include <vector>

#include "sim/core/rng.hpp"
#include "workload/arrivals.hpp"
#include "workload/think_time.hpp"

namespace hetsim::workload {

class ClosedLoop final : public Arrivals {
 public:
  /// `totals` are the pool's, for describe().
  ClosedLoop(std::unique_ptr<RequestStream> pool, const WorkloadTotals& totals, int clients, ThinkTime think,
             std::uint64_t seed);
  std::optional<double> next_time() const override;
  Issue pop() override;
  void on_end(std::int64_t id, double now) override;
  bool reacts_to_ends() const override { return true; }
  bool done() const override { return promised_.empty() && !ahead_; }
  int clients() const override { return clients_; }
  std::string describe() const override;
  /// Requests issued and not yet ended (at most clients()): what the loop remembers about them.
  std::size_t in_flight() const { return client_of_.size(); }

 private:
  /// A client's next request, due at `time`; ties go out in the order they were scheduled.
  struct Due {
    double time;
    std::uint64_t order;
    int client;
    double think;
    bool operator>(const Due& o) const { return time != o.time ? time > o.time : order > o.order; }
  };
  /// Whether a request is left to promise (if not, the pool is used up: no think time is drawn).
  bool can_schedule() const { return ahead_.has_value(); }
  /// Promises `client` the next unpromised request, due at `time`.
  void schedule(int client, double time, double think);

  std::unique_ptr<RequestStream> pool_;
  WorkloadTotals totals_;
  int clients_;
  ThinkTime think_;
  Rng rng_;
  std::priority_queue<Due, std::vector<Due>, std::greater<>> due_;
  /// The requests promised to the due clients, in pool order (one per entry of due_: whichever
  /// client is due first takes the front), then the first unpromised one, read ahead to know
  /// whether the pool is used up.
  std::deque<Request> promised_;
  std::optional<Request> ahead_;
  std::unordered_map<std::int64_t, int> client_of_;  ///< in-flight request id -> its client
  std::int64_t issued_ = 0;
  std::uint64_t order_ = 0;
};

}  // namespace hetsim::workload
