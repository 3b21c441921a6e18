#pragma once
// A workload's requests as a stream, in arrival order: only what is read ahead is in memory, so a
// run's memory does not grow with the length of its trace or generator (a 10M-request trace is
// never held whole).
#include <optional>

#include "sim/core/request.hpp"

namespace hetsim::workload {

class RequestStream {
 public:
  virtual ~RequestStream() = default;
  /// The next request (ids 0, 1, ... in arrival order); nullopt once every request was read, and
  /// ever after. A malformed trace row is an InputError naming "file:line" when it is reached.
  virtual std::optional<Request> next() = 0;
};

}  // namespace hetsim::workload
