#pragma once
// The records of the requests in flight. Requests arrive in id order (the k-th issued has id k)
// but end in any order; a record leaves the log, to whoever consumes records (requests.csv, the
// summary's tallies), once it and every earlier one have ended. Consumers so see requests in id
// order, the same whatever order the engine ended them in, and the log holds only the requests
// between the oldest still in the system and the newest arrival, not the whole trace.
#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

#include "sim/metrics/records.hpp"

namespace hetsim::sim {

class RequestLog {
 public:
  using Sink = std::function<void(const RequestRecord&)>;
  /// `sink` receives every record, in id order, as it leaves the log.
  void add_sink(Sink sink) { sinks_.push_back(std::move(sink)); }
  /// Starts request `id`'s record (InvariantError unless `id` is the next id).
  RequestRecord& open(std::int64_t id);
  /// Request `id`'s record, which must be open and not yet ended.
  RequestRecord& at(std::int64_t id);
  /// Call after giving a record its final status: hands over every record now complete in order.
  void release_ended();
  /// Requests whose records were started.
  std::int64_t opened() const { return next_id_; }
  /// Records held (started, not yet handed over).
  std::size_t held() const { return window_.size(); }
  /// The oldest record held, if any (for the end-of-run check).
  const RequestRecord* oldest() const { return window_.empty() ? nullptr : &window_.front(); }

 private:
  std::deque<RequestRecord> window_;  ///< ids next_id_ - window_.size() .. next_id_ - 1
  std::int64_t next_id_ = 0;
  std::vector<Sink> sinks_;
};

}  // namespace hetsim::sim
