#pragma once
// Think time of a closed-loop client: how long it waits after a response before sending its next
// request (workload.think_time):
//   think_time: 2 s                                  constant (default 0 s: the next request goes out at once)
//   think_time: {dist: fixed, value: 2 s}
//   think_time: {dist: exponential, mean: 2 s}       memoryless users (the classic interactive-system model)
//   think_time: {dist: uniform, min: 1 s, max: 3 s}
#include "sim/core/config.hpp"
#include "sim/core/rng.hpp"

namespace hetsim::workload {

class ThinkTime {
 public:
  /// Reads `workload.think_time` (absent: 0 s).
  static ThinkTime parse(const config::Node& workload);
  /// One think time in seconds; draws from `rng` only when the time is random.
  double sample(Rng& rng) const;
  /// The distribution's mean in seconds.
  double mean() const;

 private:
  enum class Kind { fixed, exponential, uniform } kind_ = Kind::fixed;
  double a_ = 0, b_ = 0;  ///< fixed: value; exponential: mean; uniform: min, max
};

}  // namespace hetsim::workload
