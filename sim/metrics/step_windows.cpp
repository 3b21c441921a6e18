#include "sim/metrics/step_windows.hpp"

#include <fmt/compile.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "sim/core/error.hpp"

namespace hetsim::sim {
using metrics::Agg;

StepWindows::StepWindows(AtomicFile& out, double window, std::size_t instances, std::vector<Column> columns, Kinds kinds)
    : out_(out), window_(window), columns_(std::move(columns)), kinds_(std::move(kinds)), open_(instances) {
  std::string header = "replica,window_start_s,window_end_s,steps,busy_s";
  for (const auto& k : kinds_.names) header += ",busy_" + k + "_s";
  for (const auto& c : columns_) header += "," + c.name;
  out_.write(header + "\n");
  for (std::uint32_t j = 0; j < columns_.size(); ++j)
    (columns_[j].agg == Agg::max ? max_ : columns_[j].agg == Agg::time_mean ? time_mean_ : sum_).push_back(j);
}

void StepWindows::add(const StepRow& row) {
  const double end = row.start + row.duration;
  const auto k = static_cast<std::int64_t>(std::floor(end / window_));
  Open& o = open_.at(static_cast<std::size_t>(row.replica));
  if (k < next_ || (!o.empty() && k < o.back().window))
    throw InvariantError(fmt::format("step_windows.csv: a step of replica {} ending at {} s came after its window was "
                                     "closed", row.replica, end));
  if (o.empty()) earliest_ = std::min(earliest_, k);
  if (o.empty() || o.back().window != k)
    o.push_back({k, 0, 0, std::vector<double>(kinds_.names.size(), 0.0), std::vector<double>(columns_.size(), 0.0)});
  Accumulator& a = o.back();
  ++a.steps;
  a.busy += row.duration;
  const double* v = row.values.data();
  a.busy_by_kind.at(kinds_.of(v)) += row.duration;
  // Each column's own sum, maximum or duration-weighted sum: grouped by kind (one loop each, this
  // runs every step), each column still adds in step order.
  double* acc = a.values.data();
  for (const std::uint32_t j : sum_) acc[j] += v[columns_[j].slot];
  for (const std::uint32_t j : max_) acc[j] = a.steps == 1 ? v[columns_[j].slot] : std::max(acc[j], v[columns_[j].slot]);
  for (const std::uint32_t j : time_mean_) acc[j] += v[columns_[j].slot] * row.duration;
}

void StepWindows::release_before(double t) {
  // earliest_ (the first window any instance holds) makes a call that writes nothing O(1); each
  // written window costs a pass over the instances.
  while (earliest_ != kNone && static_cast<double>(earliest_ + 1) * window_ <= t) {
    const std::int64_t k = earliest_;
    earliest_ = kNone;
    for (std::size_t r = 0; r < open_.size(); ++r) {
      Open& o = open_[r];
      if (!o.empty() && o.front().window == k) {
        write(r, o.front());
        o.pop_front();
      }
      if (!o.empty()) earliest_ = std::min(earliest_, o.front().window);
    }
    next_ = k + 1;
  }
}

void StepWindows::write(std::size_t instance, const Accumulator& a) {
  out_.print_compiled(FMT_COMPILE("{},{},{},{},{}"), instance, static_cast<double>(a.window) * window_,
                      static_cast<double>(a.window + 1) * window_, a.steps, a.busy);
  for (const double b : a.busy_by_kind) out_.print_compiled(FMT_COMPILE(",{}"), b);
  for (std::size_t j = 0; j < columns_.size(); ++j) {
    const Column& c = columns_[j];
    if (c.agg == Agg::time_mean)
      out_.print_compiled(FMT_COMPILE(",{}"), a.busy > 0 ? a.values[j] / a.busy : 0.0);
    else if (c.integer)
      out_.print_compiled(FMT_COMPILE(",{}"), static_cast<std::int64_t>(a.values[j]));
    else
      out_.print_compiled(FMT_COMPILE(",{}"), a.values[j]);
  }
  out_.write("\n");
}

}  // namespace hetsim::sim
