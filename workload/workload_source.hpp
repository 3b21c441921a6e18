#pragma once
// Workload sources produce the requests of a run (synthetic generators, trace readers), sorted by
// arrival. Each source is one file registered by name and chosen by `workload.source`.
#include <cstdint>
#include <memory>

#include "workload/request_stream.hpp"

namespace hetsim::workload {

class WorkloadSource {
 public:
  static constexpr const char* kKind = "workload source";
  virtual ~WorkloadSource() = default;
  /// The requests from the first one: sorted by arrival, ids 0..n-1 in arrival order. `seed` is
  /// the scenario seed. Every open() with the same seed yields the same requests, so a scenario
  /// can read the workload once to check it and count it, then again to run it. The stream keeps
  /// no reference to the source.
  virtual std::unique_ptr<RequestStream> open(std::uint64_t seed) const = 0;
};

}  // namespace hetsim::workload
