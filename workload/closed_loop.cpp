#include "workload/closed_loop.hpp"

#include <fmt/format.h>

#include "sim/core/error.hpp"
#include "sim/core/units.hpp"

namespace hetsim::workload {

ClosedLoop::ClosedLoop(std::unique_ptr<RequestStream> pool, const WorkloadTotals& totals, int clients, ThinkTime think,
                       std::uint64_t seed)
    : pool_(std::move(pool)), totals_(totals), clients_(clients), think_(think), rng_(seed, "workload.think_time"),
      ahead_(pool_->next()) {
  // Every client sends its first request at time 0 (benchmark_serving and genai-perf start all
  // their workers at once). Clients beyond the pool size never get a request.
  for (int c = 0; c < clients_ && can_schedule(); ++c) schedule(c, 0.0, -1.0);
}

void ClosedLoop::schedule(int client, double time, double think) {
  due_.push({time, order_++, client, think});
  promised_.push_back(std::move(*ahead_));
  ahead_ = pool_->next();
}

std::optional<double> ClosedLoop::next_time() const {
  if (due_.empty()) return std::nullopt;
  return due_.top().time;
}

Issue ClosedLoop::pop() {
  if (due_.empty()) throw InvariantError("closed loop: issuing with no client due");
  const Due d = due_.top();
  due_.pop();
  Issue i{.request = std::move(promised_.front()), .time = d.time, .client = d.client, .think = d.think};
  promised_.pop_front();
  i.request.id = issued_++;
  client_of_.emplace(i.request.id, d.client);
  return i;
}

void ClosedLoop::on_end(std::int64_t id, double now) {
  const auto it = client_of_.find(id);
  if (it == client_of_.end())
    throw InvariantError(fmt::format("closed loop: request {} ended before it was issued, or twice", id));
  const int client = it->second;
  client_of_.erase(it);  // ended: a second end is unknown, hence a bug
  if (!can_schedule()) return;  // the pool is used up: the client stays idle
  const double think = think_.sample(rng_);
  schedule(client, now + think, think);
}

std::string ClosedLoop::describe() const {
  return fmt::format("{} requests from {} closed-loop clients (mean think time {})", totals_.requests, clients_,
                     units::format(think_.mean(), units::Dim::time));
}

}  // namespace hetsim::workload
