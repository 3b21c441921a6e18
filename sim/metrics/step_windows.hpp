#pragma once
// step_windows.csv (output.steps: windows, the default): each instance's steps summed up per fixed
// window of simulated time, one row per instance and window with steps. It says what steps.csv
// says over time (load, batch, KV use) at a cost per window instead of per step: a day-long trace
// gives thousands of rows, not millions. A step counts in the window in which it ends; its busy time
// is also split by step kind (prefill, decode, mixed); each step metric is summed, maximised or
// averaged (weighted by step duration) as it declares (Metric::window). Rows are in order of
// window, then instance.
//
// Instances may report steps ahead of each other (coalescing): each keeps its open windows until
// release_before() says no step can still end in them. The sums run over one instance's steps in
// its own order, so the bytes do not depend on how the engine interleaved the instances.
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "sim/core/io/atomic_file.hpp"
#include "sim/core/metric.hpp"
#include "sim/metrics/records.hpp"

namespace hetsim::sim {

class StepWindows {
 public:
  struct Column {
    std::uint32_t slot;  ///< in StepRow::values
    metrics::Agg agg;    ///< sum, max or time_mean
    bool integer;        ///< written as an integer (sums and maxima of integer metrics)
    std::string name;    ///< metrics::window_column
  };
  /// Sorts a step into one of `kinds` by its values (busy time is also split by kind).
  struct Kinds {
    std::vector<std::string> names;  ///< column busy_<name>_s each
    std::function<std::size_t(const double* values)> of;
  };
  /// Writes the header to `out` now; `window` is in seconds (> 0).
  StepWindows(AtomicFile& out, double window, std::size_t instances, std::vector<Column> columns, Kinds kinds);

  /// Adds a step; each instance's steps come in order of end time.
  void add(const StepRow& row);
  /// No step added from now on ends before `t`: writes every window that ends by then.
  void release_before(double t);

 private:
  struct Accumulator {
    std::int64_t window = 0;  ///< index: [window, window + 1) x the window length
    std::int64_t steps = 0;
    double busy = 0;
    std::vector<double> busy_by_kind;
    std::vector<double> values;
  };
  /// An instance's windows with steps, not yet written, in order (windows without steps take no
  /// room: a run of long steps over a long time stays small).
  using Open = std::deque<Accumulator>;
  void write(std::size_t instance, const Accumulator& a);

  AtomicFile& out_;
  double window_;
  std::vector<Column> columns_;
  std::vector<std::uint32_t> sum_, max_, time_mean_;  ///< columns by aggregation
  Kinds kinds_;
  std::vector<Open> open_;    ///< per instance
  static constexpr std::int64_t kNone = std::numeric_limits<std::int64_t>::max();
  std::int64_t next_ = 0;         ///< first window not yet written
  std::int64_t earliest_ = kNone;  ///< first window any instance holds
};

}  // namespace hetsim::sim
