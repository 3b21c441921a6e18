#pragma once
// Options every trace replay shares: speed the trace up or down, and cut it short.
#include <cstdint>
#include <vector>

#include "sim/core/config.hpp"
#include "sim/core/request.hpp"
#include "workload/workload_source.hpp"

namespace hetsim::workload {

/// Trace readers refuse a trace whose arrivals span more than this (a row with a bad date, such as
/// 1899-12-30, would otherwise turn a run into billions of simulated seconds).
inline constexpr std::int64_t kMaxTraceSpanSeconds = 366LL * 86400;

struct TraceOptions {
  double rate_scale = 1.0;  ///< arrival rate multiplier: inter-arrival times are divided by it
  std::int64_t limit = 0;   ///< keep the first `limit` requests (0 = all)

  static TraceOptions parse(const config::Node& node);
  /// Applies limit and rate scale; re-bases arrivals to start at 0 and renumbers ids in order.
  void apply(std::vector<Request>& requests) const;
};

/// A workload source that replays the trace file `file`, read by `Reader`, with TraceOptions applied.
template <std::vector<Request> (*Reader)(const std::string&)>
class TraceFileSource final : public WorkloadSource {
 public:
  explicit TraceFileSource(const config::Node& cfg) : file_(cfg.file_path("file")), options_(TraceOptions::parse(cfg)) {}
  std::vector<Request> generate(std::uint64_t) override {
    auto requests = Reader(file_);
    options_.apply(requests);
    return requests;
  }

 private:
  std::string file_;
  TraceOptions options_;
};

}  // namespace hetsim::workload
