#pragma once
// Options every trace replay shares: speed the trace up or down, and cut it short.
#include <cstdint>
#include <vector>

#include "sim/core/config.hpp"
#include "sim/core/request.hpp"

namespace hetsim::workload {

struct TraceOptions {
  double rate_scale = 1.0;  ///< arrival rate multiplier: inter-arrival times are divided by it
  std::int64_t limit = 0;   ///< keep the first `limit` requests (0 = all)

  static TraceOptions parse(const config::Node& node);
  /// Applies limit and rate scale; re-bases arrivals to start at 0 and renumbers ids in order.
  void apply(std::vector<Request>& requests) const;
};

}  // namespace hetsim::workload
