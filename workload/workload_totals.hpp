#pragma once
// What a run needs to know about its whole workload before it starts (the recorder checks at the
// end that every request arrived; `hetsim validate` prints the totals), computed by reading one stream to the
// end. Reading it also checks every trace row, so a bad row fails the scenario at load, before
// anything runs, as it did when the workload was read whole.
#include <cstddef>
#include <cstdint>

#include "workload/request_stream.hpp"

namespace hetsim::workload {

struct WorkloadTotals {
  std::size_t requests = 0;
  std::int64_t prompt_tokens = 0;
  std::int64_t output_tokens = 0;
  double last_arrival = 0;  ///< the last request's arrival, seconds (0 without requests)

  /// Reads `stream` to the end.
  static WorkloadTotals of(RequestStream& stream);
};

}  // namespace hetsim::workload
