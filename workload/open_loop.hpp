#pragma once
// Open-loop arrivals: each request goes out at its timestamp, whatever happens to the others.
#include <vector>

#include "workload/arrivals.hpp"

namespace hetsim::workload {

class OpenLoop final : public Arrivals {
 public:
  /// Issue times are the pool's arrival times (sorted, as sources deliver them).
  explicit OpenLoop(const std::vector<Request>& pool);
  std::optional<Issue> next() const override;
  Issue pop() override;
  void on_end(std::int64_t, double) override {}
  bool reacts_to_ends() const override { return false; }
  bool done() const override { return next_ == times_.size(); }
  int clients() const override { return 0; }
  std::string describe() const override;

 private:
  std::vector<double> times_;
  std::size_t next_ = 0;
};

}  // namespace hetsim::workload
