#pragma once
// Distributions of prompt / output lengths in tokens for synthetic workloads:
//   512                                   fixed (shorthand)
//   {dist: fixed, value: 512}
//   {dist: uniform, min: 64, max: 512}
//   {dist: lognormal, median: 1024, sigma: 0.8, min: 1, max: 8192}   (clipped)
//   {dist: empirical, file: lengths.csv, column: ContextTokens}       (rows sampled uniformly)
#include <cstdint>
#include <string>
#include <vector>

#include "sim/core/config.hpp"
#include "sim/core/rng.hpp"

namespace hetsim::workload {

class LengthDistribution {
 public:
  static LengthDistribution parse(const config::Node& node);
  std::int64_t sample(Rng& rng) const;

 private:
  enum class Kind { fixed, uniform, lognormal, empirical } kind_ = Kind::fixed;
  std::int64_t value_ = 1, min_ = 1, max_ = 1;
  double median_ = 1, sigma_ = 0;
  std::vector<std::int64_t> samples_;
};

}  // namespace hetsim::workload
