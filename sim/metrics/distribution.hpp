#pragma once
// TEMPORARY stand-in (replaced by the streaming implementation on merge).
#include <cstdint>
#include <vector>

namespace hetsim::sim {
struct Stats {
  std::size_t count = 0;
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
  std::int64_t max_rank_error = 0;
};
Stats describe(std::vector<double> values);
class Distribution {
 public:
  void add(double x) { v_.push_back(x); }
  Stats stats() const { return describe(v_); }
  std::size_t count() const { return v_.size(); }
 private:
  std::vector<double> v_;
};
}  // namespace hetsim::sim
