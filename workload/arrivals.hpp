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
// Requests come from a stream and are read a few ahead (one in an open loop; in a closed loop, one
// per client due plus one), never the whole pool.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "sim/core/config.hpp"
#include "sim/core/request.hpp"
#include "workload/request_stream.hpp"
#include "workload/workload_totals.hpp"

namespace hetsim::workload {

/// One request due to go out.
struct Issue {
  Request request;        ///< the pool entry it takes; its id is the issue order
  double time = 0;        ///< when it is due, seconds
  int client = -1;        ///< closed loop: the client sending it; -1 in an open loop
  double think = -1;      ///< closed loop: the think time that preceded it; -1 for a client's first
};

class Arrivals {
 public:
  virtual ~Arrivals() = default;
  /// When the earliest issue scheduled now is due; nullopt when none is (every request issued, or,
  /// in a closed loop, every client waiting for a response). Cheap: the engine asks at every step.
  virtual std::optional<double> next_time() const = 0;
  /// Takes the issue due at next_time().
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
  /// Whether requests are turns of multi-turn sessions (requests.csv shows session and turn).
  virtual bool sessions() const { return false; }
  /// Whether requests carry tenants (workload.tenants; requests.csv and the summary show them).
  virtual bool tenants() const { return false; }
  /// One line for `hetsim validate`.
  virtual std::string describe() const = 0;
};

/// Whether `workload` asks for closed-loop clients (it has `concurrency`).
bool is_closed_loop(const config::Node& workload);

/// The arrival policy `workload` asks for, over `pool` (a stream of the source's requests, ids
/// 0..n-1); `totals` (the same pool's, read beforehand) is for describe().
std::unique_ptr<Arrivals> make_arrivals(const config::Node& workload, std::unique_ptr<RequestStream> pool,
                                        const WorkloadTotals& totals, std::uint64_t seed);

}  // namespace hetsim::workload
