#pragma once
// Tests read a workload stream whole to compare it with what they expect.
#include <memory>
#include <optional>
#include <vector>

#include "workload/request_stream.hpp"

namespace hetsim::test {

/// Every request `stream` has left, in order.
inline std::vector<Request> drain(workload::RequestStream& stream) {
  std::vector<Request> out;
  while (auto r = stream.next()) out.push_back(std::move(*r));
  return out;
}
inline std::vector<Request> drain(const std::unique_ptr<workload::RequestStream>& stream) { return drain(*stream); }

/// A stream over requests given in advance.
class VectorStream final : public workload::RequestStream {
 public:
  explicit VectorStream(std::vector<Request> requests) : requests_(std::move(requests)) {}
  std::optional<Request> next() override {
    if (next_ == requests_.size()) return std::nullopt;
    return requests_[next_++];
  }

 private:
  std::vector<Request> requests_;
  std::size_t next_ = 0;
};

}  // namespace hetsim::test
