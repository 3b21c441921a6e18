#include "sim/metrics/step_row_merge.hpp"

#include <algorithm>

namespace hetsim::sim {
namespace {
const auto kLater = std::greater<std::pair<double, int>>();
}  // namespace

void StepRowMerge::push(const StepRow& row) {
  std::uint32_t slot;
  if (free_slots_.empty()) {
    slot = static_cast<std::uint32_t>(pool_.size());
    pool_.push_back(row);
  } else {
    slot = free_slots_.back();
    free_slots_.pop_back();
    StepRow& kept = pool_[slot];
    kept.replica = row.replica;
    kept.start = row.start;
    kept.duration = row.duration;
    std::copy(row.values.begin(), row.values.end(), kept.values.begin());
  }
  auto& queue = queues_.at(static_cast<std::size_t>(row.replica));
  queue.push_back(slot);
  if (queue.size() == 1) {  // a new front: into the heap
    heads_.emplace_back(end_of(row), row.replica);
    std::push_heap(heads_.begin(), heads_.end(), kLater);
  }
}

void StepRowMerge::release_before(double before, const std::function<void(const StepRow&)>& emit) {
  while (!heads_.empty() && heads_.front().first < before) {
    std::pop_heap(heads_.begin(), heads_.end(), kLater);
    auto& queue = queues_[static_cast<std::size_t>(heads_.back().second)];
    heads_.pop_back();
    const std::uint32_t slot = queue.front();
    queue.pop_front();
    emit(pool_[slot]);
    free_slots_.push_back(slot);
    if (!queue.empty()) {
      heads_.emplace_back(end_of(pool_[queue.front()]), pool_[queue.front()].replica);
      std::push_heap(heads_.begin(), heads_.end(), kLater);
    }
  }
}

}  // namespace hetsim::sim
