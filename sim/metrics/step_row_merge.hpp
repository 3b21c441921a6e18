#pragma once
// Puts the step rows of all instances in time order for steps.csv and the timeline. Instances may
// report steps ahead of each other (coalescing), but each reports its own in the order they end,
// so rows wait in one queue per instance and are merged by end time, ties broken by instance: the
// same order however the engine interleaved the instances. Rows are copied into a reused pool, so
// a steady run allocates nothing per step; a release costs O(rows written x log instances).
#include <cstdint>
#include <deque>
#include <functional>
#include <utility>
#include <vector>

#include "sim/metrics/records.hpp"

namespace hetsim::sim {

class StepRowMerge {
 public:
  explicit StepRowMerge(std::size_t instances) : queues_(instances) {}

  /// Keeps a copy of `row`; each instance's rows must come in order of end time.
  void push(const StepRow& row);
  /// Hands `emit` every kept row that ends before `before`, in order (end, instance, report order).
  void release_before(double before, const std::function<void(const StepRow&)>& emit);

 private:
  static double end_of(const StepRow& row) { return row.start + row.duration; }

  std::vector<std::deque<std::uint32_t>> queues_;  ///< per instance: slots in pool_, oldest first
  std::vector<StepRow> pool_;
  std::vector<std::uint32_t> free_slots_;
  std::vector<std::pair<double, int>> heads_;  ///< min-heap of (end, instance) of the non-empty queues' fronts
};

}  // namespace hetsim::sim
