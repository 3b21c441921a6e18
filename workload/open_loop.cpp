#include "workload/open_loop.hpp"

#include <fmt/format.h>

#include "sim/core/error.hpp"

namespace hetsim::workload {

OpenLoop::OpenLoop(std::unique_ptr<RequestStream> pool, const WorkloadTotals& totals)
    : pool_(std::move(pool)), ahead_(pool_->next()), totals_(totals) {}

std::optional<double> OpenLoop::next_time() const {
  if (!ahead_) return std::nullopt;
  return ahead_->arrival;
}

Issue OpenLoop::pop() {
  if (!ahead_) throw InvariantError("open loop: issuing with every request issued");
  Issue i{.request = std::move(*ahead_)};
  i.time = i.request.arrival;
  i.request.id = issued_++;
  ahead_ = pool_->next();
  return i;
}

std::string OpenLoop::describe() const {
  return fmt::format("{} requests over {:.1f} s", totals_.requests, totals_.last_arrival);
}

}  // namespace hetsim::workload
