#include "workload/open_loop.hpp"

#include <fmt/format.h>

namespace hetsim::workload {

OpenLoop::OpenLoop(const std::vector<Request>& pool) {
  times_.reserve(pool.size());
  for (const auto& r : pool) times_.push_back(r.arrival);
}

std::optional<Issue> OpenLoop::next() const {
  if (done()) return std::nullopt;
  return Issue{.index = next_, .time = times_[next_]};
}

Issue OpenLoop::pop() {
  Issue i{.index = next_, .time = times_[next_]};
  ++next_;
  return i;
}

std::string OpenLoop::describe() const {
  return fmt::format("{} requests over {:.1f} s", times_.size(), times_.empty() ? 0.0 : times_.back());
}

}  // namespace hetsim::workload
