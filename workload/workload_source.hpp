#pragma once
// Workload sources produce the requests of a run (synthetic generators, trace readers), sorted by
// arrival. Each source is one file registered by name and chosen by `workload.source`.
#include <cstdint>
#include <vector>

#include "sim/core/request.hpp"

namespace hetsim::workload {

class WorkloadSource {
 public:
  static constexpr const char* kKind = "workload source";
  virtual ~WorkloadSource() = default;
  /// All requests, sorted by arrival, ids 0..n-1 in arrival order. `seed` is the scenario seed.
  virtual std::vector<Request> generate(std::uint64_t seed) = 0;
};

}  // namespace hetsim::workload
