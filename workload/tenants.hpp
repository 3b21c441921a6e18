#pragma once
// Tenants (`workload.tenants`): who sends each request, for fairness and priorities. VTC and
// priority schedulers serve tenants, not requests; their share of service and latency are
// reported per tenant. Each issued request is drawn a tenant by its share, in issue order from the
// run's seed (the same scenario and seed give the same tenants), whatever the source:
//   tenants:
//     shares: [0.7, 0.1, 0.1, 0.1]   # tenant k sends this share of the requests (normalised)
//     priority: [0, 1, 0, 0]         # per tenant, higher is served first (default 0 for all)
// or `tenants: {count: N}` for N tenants with equal shares.
#include <memory>
#include <vector>

#include "sim/core/config.hpp"
#include "sim/core/rng.hpp"
#include "workload/arrivals.hpp"

namespace hetsim::workload {

class Tenants {
 public:
  /// From `workload.tenants`; InputError naming the key on bad shares or priorities.
  Tenants(const config::Node& tenants, std::uint64_t seed);
  /// Draws `r`'s tenant and sets its priority.
  void assign(Request& r);
  std::size_t count() const { return cumulative_.size(); }
  std::string describe() const;

 private:
  std::vector<double> cumulative_;  ///< cumulative normalised shares, the last exactly 1
  std::vector<int> priority_;
  Rng rng_;
};

/// Wraps `inner` so that every issued request carries its tenant and priority.
std::unique_ptr<Arrivals> with_tenants(std::unique_ptr<Arrivals> inner, Tenants tenants);

}  // namespace hetsim::workload
