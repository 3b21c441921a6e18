#include "workload/closed_loop.hpp"

#include <fmt/format.h>

#include "sim/core/error.hpp"
#include "sim/core/units.hpp"

namespace hetsim::workload {

ClosedLoop::ClosedLoop(std::size_t pool_size, int clients, ThinkTime think, std::uint64_t seed)
    : pool_size_(pool_size), clients_(clients), think_(think), rng_(seed, "workload.think_time"), client_of_(pool_size, -1) {
  // Every client sends its first request at time 0 (benchmark_serving and genai-perf start all
  // their workers at once). Clients beyond the pool size never get a request.
  for (int c = 0; c < clients_ && scheduled_ < pool_size_; ++c) schedule(c, 0.0, -1.0);
}

void ClosedLoop::schedule(int client, double time, double think) {
  due_.push({time, order_++, client, think});
  ++scheduled_;
}

std::optional<Issue> ClosedLoop::next() const {
  if (due_.empty()) return std::nullopt;
  const Due& d = due_.top();
  return Issue{.index = issued_, .time = d.time, .client = d.client, .think = d.think};
}

Issue ClosedLoop::pop() {
  if (due_.empty()) throw InvariantError("closed loop: issuing with no client due");
  const Due d = due_.top();
  due_.pop();
  const Issue i{.index = issued_, .time = d.time, .client = d.client, .think = d.think};
  client_of_[issued_++] = d.client;
  return i;
}

void ClosedLoop::on_end(std::int64_t id, double now) {
  const auto k = static_cast<std::size_t>(id);
  if (k >= client_of_.size() || client_of_[k] < 0)
    throw InvariantError(fmt::format("closed loop: request {} ended before it was issued, or twice", id));
  const int client = client_of_[k];
  client_of_[k] = -2;  // ended: a second end would be a bug
  if (scheduled_ == pool_size_) return;  // the pool is used up: the client stays idle
  const double think = think_.sample(rng_);
  schedule(client, now + think, think);
}

std::string ClosedLoop::describe() const {
  return fmt::format("{} requests from {} closed-loop clients (mean think time {})", pool_size_, clients_,
                     units::format(think_.mean(), units::Dim::time));
}

}  // namespace hetsim::workload
