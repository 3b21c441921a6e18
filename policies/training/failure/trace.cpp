// Replay of a recorded failure log: a CSV with one interruption per line, `time_h` (hours since the
// job started) and `cause`, optionally `replaces_node` (true/false, default true), in time order.
// The same failures in every trial; after the last one, none. For logs such as the Acme traces'
// failed-job times or a cluster's own incident records.
#include <algorithm>
#include <cmath>

#include "sim/core/error.hpp"
#include "sim/core/io/csv.hpp"
#include "sim/core/registry.hpp"
#include "sim/training/failure_process.hpp"

namespace hetsim::policies {
namespace {

using training::Failure;

class TraceFailures final : public training::FailureProcess {
 public:
  explicit TraceFailures(const config::Node& cfg) {
    workload::CsvReader csv(cfg.file_path("file"));
    const std::size_t time = csv.column("time_h"), cause = csv.column("cause");
    const auto replaces = csv.find_column("replaces_node");
    while (csv.next()) {
      double hours = 0;
      if (!config::detail::convert(csv.field(time), hours) || !std::isfinite(hours) || hours < 0)
        csv.fail(fmt::format("time_h {}: expected hours >= 0", csv.field(time)));
      if (!failures_.empty() && hours * 3600 < failures_.back().time)
        csv.fail(fmt::format("time_h {}: earlier than the line before; expected failures in time order", csv.field(time)));
      bool replaces_node = true;
      if (replaces && !config::detail::convert(csv.field(*replaces), replaces_node))
        csv.fail(fmt::format("replaces_node {}: expected true or false", csv.field(*replaces)));
      const std::string& name = csv.field(cause);
      auto it = std::find_if(causes_.begin(), causes_.end(), [&](const training::FailureCause& c) { return c.name == name; });
      if (it == causes_.end()) it = causes_.insert(causes_.end(), {name, 0, replaces_node});
      failures_.push_back({hours * 3600, static_cast<int>(it - causes_.begin())});
    }
    if (failures_.empty()) csv.fail("no failures: expected at least one line after the header");
  }

  void start(int, Rng) override { next_ = 0; }
  std::optional<Failure> next() override {
    if (next_ >= failures_.size()) return std::nullopt;
    return failures_[next_++];
  }
  const std::vector<training::FailureCause>& causes() const override { return causes_; }
  double mtbf(int) const override { return failures_.back().time / static_cast<double>(failures_.size()); }

 private:
  std::vector<training::FailureCause> causes_;
  std::vector<Failure> failures_;
  std::size_t next_ = 0;
};

}  // namespace
HETSIM_REGISTER(training::FailureProcess, TraceFailures, "trace", "replay of a failure log (time_h, cause)");
}  // namespace hetsim::policies
