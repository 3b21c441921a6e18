#include "sim/metrics/request_log.hpp"

#include <fmt/format.h>

#include "sim/core/error.hpp"

namespace hetsim::sim {

RequestRecord& RequestLog::open(std::int64_t id) {
  if (id != next_id_)
    throw InvariantError(fmt::format("request {} arrived out of order: expected request {} next (ids follow arrival order)",
                                     id, next_id_));
  ++next_id_;
  RequestRecord& r = window_.emplace_back();
  r.id = id;
  return r;
}

RequestRecord& RequestLog::at(std::int64_t id) {
  const std::int64_t first = next_id_ - static_cast<std::int64_t>(window_.size());
  if (id < first || id >= next_id_)
    throw InvariantError(fmt::format("request {} is not in the system (requests {} to {} are)", id, first, next_id_ - 1));
  RequestRecord& r = window_[static_cast<std::size_t>(id - first)];
  if (r.status != RequestStatus::pending)
    throw InvariantError(fmt::format("request {} has already ended", id));
  return r;
}

void RequestLog::release_ended() {
  while (!window_.empty() && window_.front().status != RequestStatus::pending) {
    for (const Sink& sink : sinks_) sink(window_.front());
    window_.pop_front();
  }
}

}  // namespace hetsim::sim
