#pragma once
// Open-loop arrivals: each request goes out at its timestamp, whatever happens to the others.
#include <memory>
#include <optional>

#include "workload/arrivals.hpp"

namespace hetsim::workload {

class OpenLoop final : public Arrivals {
 public:
  /// Issue times are the pool's arrival times (sorted, as sources deliver them); `totals` are the
  /// pool's, for describe().
  OpenLoop(std::unique_ptr<RequestStream> pool, const WorkloadTotals& totals);
  std::optional<double> next_time() const override;
  Issue pop() override;
  void on_end(std::int64_t, double) override {}
  bool reacts_to_ends() const override { return false; }
  bool done() const override { return !ahead_; }
  int clients() const override { return 0; }
  std::string describe() const override;

 private:
  std::unique_ptr<RequestStream> pool_;
  std::optional<Request> ahead_;  ///< the next request to issue: one read ahead, for its time
  WorkloadTotals totals_;
  std::int64_t issued_ = 0;
};

}  // namespace hetsim::workload
