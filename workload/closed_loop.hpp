#pragma once
// Closed-loop clients (vLLM benchmark_serving --max-concurrency, genai-perf --concurrency): N
// clients start together at time 0; each sends a request, waits until it ends, thinks, and sends
// the next, until the pool is used up. At most N requests are ever in flight.
#include <cstdint>
#include <queue>
#include <vector>

#include "sim/core/rng.hpp"
#include "workload/arrivals.hpp"
#include "workload/think_time.hpp"

namespace hetsim::workload {

class ClosedLoop final : public Arrivals {
 public:
  ClosedLoop(std::size_t pool_size, int clients, ThinkTime think, std::uint64_t seed);
  std::optional<Issue> next() const override;
  Issue pop() override;
  void on_end(std::int64_t id, double now) override;
  bool reacts_to_ends() const override { return true; }
  bool done() const override { return issued_ == pool_size_; }
  int clients() const override { return clients_; }
  std::string describe() const override;

 private:
  /// A client's next request, due at `time`; ties go out in the order they were scheduled.
  struct Due {
    double time;
    std::uint64_t order;
    int client;
    double think;
    bool operator>(const Due& o) const { return time != o.time ? time > o.time : order > o.order; }
  };
  void schedule(int client, double time, double think);

  std::size_t pool_size_;
  int clients_;
  ThinkTime think_;
  Rng rng_;
  std::priority_queue<Due, std::vector<Due>, std::greater<>> due_;
  std::vector<int> client_of_;  ///< by request id; -1 until issued
  std::size_t issued_ = 0;
  std::size_t scheduled_ = 0;   ///< issued + due: pool entries already promised to a client
  std::uint64_t order_ = 0;
};

}  // namespace hetsim::workload
