#pragma once
// When the requests of a run are issued: the one place the engine asks. A workload source yields
// the request pool (lengths, and timestamps where it has them); an arrival policy decides when each
// pool entry goes out:
//   * open loop (default): at its timestamp (trace rows, a Poisson or gamma process);
//   * closed loop (`workload.concurrency: N`): N clients each send a request, wait until it ends
//     (completed, rejected or dropped), think (`workload.think_time`) and send the next, like
//     vLLM's benchmark_serving --max-concurrency and genai-perf --concurrency. Timestamps are
//     ignored; arrival times come from the simulation.
// The k-th request issued takes pool entry k and id k, so ids stay in issue (arrival) order.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sim/core/config.hpp"
#include "sim/core/request.hpp"

namespace hetsim::workload {

/// One request due to go out.
struct Issue {
  std::size_t index = 0;  ///< pool entry (and request id)
  double time = 0;        ///< when it is due, seconds
  int client = -1;        ///< closed loop: the client sending it; -1 in an open loop
  double think = -1;      ///< closed loop: the think time that preceded it; -1 for a client's first
};

class Arrivals {
 public:
  virtual ~Arrivals() = default;
  /// The earliest issue scheduled now; nullopt when none is (every request issued, or, in a closed
  /// loop, every client waiting for a response).
  virtual std::optional<Issue> next() const = 0;
  /// Takes the issue next() returned.
  virtual Issue pop() = 0;
  /// Request `id` ended at `now` (completed, rejected or dropped). Called once per request.
  virtual void on_end(std::int64_t id, double now) = 0;
  /// Whether an end can schedule an issue (the engine then watches ends instead of sleeping until
  /// the next due time).
  virtual bool reacts_to_ends() const = 0;
  /// Whether every pool entry has been issued.
  virtual bool done() const = 0;
  /// Closed loop: the number of clients; 0 in an open loop.
  virtual int clients() const = 0;
  /// One line for `hetsim validate`.
  virtual std::string describe() const = 0;
};

/// Whether `workload` asks for closed-loop clients (it has `concurrency`).
bool is_closed_loop(const config::Node& workload);

/// The arrival policy `workload` asks for, over `pool` (the source's requests, ids 0..n-1).
std::unique_ptr<Arrivals> make_arrivals(const config::Node& workload, const std::vector<Request>& pool, std::uint64_t seed);

}  // namespace hetsim::workload
