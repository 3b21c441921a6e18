#include "workload/workload_totals.hpp"

namespace hetsim::workload {

WorkloadTotals WorkloadTotals::of(RequestStream& stream) {
  WorkloadTotals t;
  while (const auto r = stream.next()) {
    ++t.requests;
    t.prompt_tokens += r->prompt_tokens;
    t.output_tokens += r->output_tokens;
    t.last_arrival = r->arrival;
  }
  return t;
}

}  // namespace hetsim::workload
