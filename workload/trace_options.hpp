#pragma once
// Options every trace replay shares: speed the trace up or down, and cut it short.
#include <cstdint>
#include <memory>
#include <string>

#include "sim/core/config.hpp"
#include "workload/request_stream.hpp"
#include "workload/workload_source.hpp"

namespace hetsim::workload {

/// Trace readers refuse a trace whose arrivals span more than this (a row with a bad date, such as
/// 1899-12-30, would otherwise turn a run into billions of simulated seconds).
inline constexpr std::int64_t kMaxTraceSpanSeconds = 366LL * 86400;

struct TraceOptions {
  double rate_scale = 1.0;  ///< arrival rate multiplier: inter-arrival times are divided by it
  std::int64_t limit = 0;   ///< keep the first `limit` requests (0 = all)

  static TraceOptions parse(const config::Node& node);
  /// `rows` (a trace reader's requests, in arrival order: readers refuse decreasing timestamps)
  /// with limit and rate scale applied, arrivals re-based to start at 0 and ids renumbered in order.
  std::unique_ptr<RequestStream> apply(std::unique_ptr<RequestStream> rows) const;
};

/// A workload source that replays the trace file `file`, read by `Open`, with TraceOptions applied.
template <std::unique_ptr<RequestStream> (*Open)(const std::string&)>
class TraceFileSource final : public WorkloadSource {
 public:
  explicit TraceFileSource(const config::Node& cfg) : file_(cfg.file_path("file")), options_(TraceOptions::parse(cfg)) {}
  std::unique_ptr<RequestStream> open(std::uint64_t) const override { return options_.apply(Open(file_)); }

 private:
  std::string file_;
  TraceOptions options_;
};

}  // namespace hetsim::workload
