#include "workload/trace_options.hpp"

#include <algorithm>

#include "workload/arrivals.hpp"

namespace hetsim::workload {

TraceOptions TraceOptions::parse(const config::Node& node) {
  TraceOptions o;
  if (is_closed_loop(node)) {
    // Closed-loop clients replay the trace's lengths in order and ignore its timestamps.
    if (node.has("rate_scale"))
      node.fail_key("rate_scale", node.child("rate_scale").shown(),
                    "closed-loop clients (workload.concurrency) ignore the trace's timestamps; remove rate_scale");
    o.limit = node.get<std::int64_t>("limit").default_to(0).at_least(0);
    return o;
  }
  o.rate_scale = node.get<double>("rate_scale").default_to(1.0).in_range(1e-6, 1e6);
  o.limit = node.get<std::int64_t>("limit").default_to(0).at_least(0);
  return o;
}

void TraceOptions::apply(std::vector<Request>& requests) const {
  std::stable_sort(requests.begin(), requests.end(),
                   [](const Request& a, const Request& b) { return a.arrival < b.arrival; });
  if (limit > 0 && static_cast<std::int64_t>(requests.size()) > limit) requests.resize(static_cast<std::size_t>(limit));
  const double t0 = requests.empty() ? 0.0 : requests.front().arrival;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    requests[i].arrival = (requests[i].arrival - t0) / rate_scale;
    requests[i].id = static_cast<std::int64_t>(i);
  }
}

}  // namespace hetsim::workload
