#pragma once
// Which of `items` things (shared prefixes, documents) a request picks: uniformly, or by Zipf
// popularity (item k, from 0, with weight 1 / (k + 1)^s), read from a workload section's
// `popularity` and `zipf_s` keys.
#include <cstdint>
#include <vector>

#include "sim/core/config.hpp"

namespace hetsim::workload {

class Popularity {
 public:
  /// `cfg.popularity` (uniform | zipf, default uniform) and `cfg.zipf_s` (zipf only, default 1) over `items` items.
  static Popularity parse(const config::Node& cfg, std::int64_t items);
  /// The item a uniform draw `u` in [0, 1) picks.
  std::int64_t pick(double u) const;

 private:
  std::vector<double> cdf_;  ///< popularity of items 0..items-1, cumulative
};

}  // namespace hetsim::workload
