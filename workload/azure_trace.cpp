#include "workload/azure_trace.hpp"

#include <fmt/format.h>

#include <charconv>
#include <fstream>

#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"
#include "sim/core/io/csv.hpp"
#include "workload/trace_options.hpp"

namespace hetsim::workload {

namespace {
// Days from 1970-01-01 to a civil date (H. Hinnant's days_from_civil algorithm).
long days_from_civil(long y, unsigned m, unsigned d) {
  y -= m <= 2;
  const long era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<long>(doe) - 719468;
}

bool read_int(const char*& p, const char* end, int digits, long& out) {
  if (end - p < digits) return false;
  auto [q, ec] = std::from_chars(p, p + digits, out);
  if (ec != std::errc{} || q != p + digits) return false;
  p = q;
  return true;
}
bool expect(const char*& p, const char* end, char c) {
  if (p == end || *p != c) return false;
  ++p;
  return true;
}
}  // namespace

bool parse_timestamp(const std::string& text, std::int64_t& ticks) {
  const char* p = text.data();
  const char* end = p + text.size();
  long y, mo, d, h, mi, s;
  // The date and time are separated by a space (the traces) or ISO 8601's 'T'.
  auto separator = [&] { return expect(p, end, ' ') || expect(p, end, 'T'); };
  if (!read_int(p, end, 4, y) || !expect(p, end, '-') || !read_int(p, end, 2, mo) || !expect(p, end, '-') ||
      !read_int(p, end, 2, d) || !separator() || !read_int(p, end, 2, h) || !expect(p, end, ':') || !read_int(p, end, 2, mi) || !expect(p, end, ':') || !read_int(p, end, 2, s))
    return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return false;
  std::int64_t frac = 0;  // in 100 ns ticks; digits past the 7th are below the resolution and dropped
  if (p != end && *p == '.') {
    if (++p == end || *p < '0' || *p > '9') return false;
    std::int64_t scale = 1000000;
    for (; p != end && *p >= '0' && *p <= '9'; ++p, scale /= 10) frac += (*p - '0') * scale;
  }
  // A UTC offset, as in the 2024 traces ("2024-05-10 00:00:00.009930+00:00"): "Z", "+HH:MM",
  // "+HHMM" or "+HH" (or "-"); the result is UTC. The 2023 traces have none.
  long offset_minutes = 0;
  if (p != end && *p == 'Z') {
    ++p;
  } else if (p != end && (*p == '+' || *p == '-')) {
    const long sign = *p++ == '-' ? -1 : 1;
    long oh = 0, om = 0;
    if (!read_int(p, end, 2, oh)) return false;
    if (p != end && *p == ':') ++p;
    if (p != end && !read_int(p, end, 2, om)) return false;
    if (oh > 23 || om > 59) return false;
    offset_minutes = sign * (oh * 60 + om);
  }
  if (p != end) return false;
  const std::int64_t secs = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 + h * 3600 +
                            mi * 60 + s - offset_minutes * 60;
  ticks = secs * 10000000 + frac;
  return true;
}

namespace {
/// The trace's rows, one at a time, checked as they are read.
class AzureTraceStream final : public RequestStream {
 public:
  explicit AzureTraceStream(const std::string& path)
      : csv_(path), ts_(csv_.column("TIMESTAMP")), ctx_(csv_.column("ContextTokens")), gen_(csv_.column("GeneratedTokens")) {}

  std::optional<Request> next() override {
    if (done_ || !csv_.next()) {
      done_ = true;
      return std::nullopt;
    }
    std::int64_t t = 0;
    if (!parse_timestamp(csv_.field(ts_), t))
      csv_.fail(fmt::format("TIMESTAMP = \"{}\": expected \"YYYY-MM-DD HH:MM:SS.fffffff\" (optionally with a UTC offset "
                            "such as +00:00)",
                            csv_.field(ts_)));
    if (!first_ && t < prev_)
      csv_.fail(fmt::format("TIMESTAMP = \"{}\": earlier than the row before ({}); expected non-decreasing arrival times",
                            csv_.field(ts_), prev_text_));
    if (!first_ && t - t0_ > kMaxTraceSpanSeconds * 10000000)
      csv_.fail(fmt::format("TIMESTAMP = \"{}\": {:.3g} s after the first row ({}); expected a trace spanning at most 1 year",
                            csv_.field(ts_), static_cast<double>(t - t0_) * 1e-7, first_text_));
    prev_ = t;
    prev_text_ = csv_.field(ts_);
    if (first_) first_text_ = prev_text_;
    Request r;
    r.prompt_tokens = csv_.positive_int(ctx_);
    r.output_tokens = csv_.positive_int(gen_);
    if (first_) t0_ = t;
    first_ = false;
    r.arrival = static_cast<double>(t - t0_) * 1e-7;
    return r;
  }

 private:
  CsvReader csv_;
  std::size_t ts_, ctx_, gen_;  ///< column indices
  bool first_ = true, done_ = false;
  std::int64_t t0_ = 0, prev_ = 0;  ///< the first and the previous row's time, 100 ns ticks
  std::string prev_text_, first_text_;
};
}  // namespace

std::unique_ptr<RequestStream> open_azure_trace(const std::string& path) { return std::make_unique<AzureTraceStream>(path); }

using AzureTraceSource = TraceFileSource<&open_azure_trace>;

HETSIM_REGISTER(WorkloadSource, AzureTraceSource, "azure",
                "Azure LLM inference trace CSV, 2023 or 2024 (TIMESTAMP, ContextTokens, GeneratedTokens); rate_scale, limit");
}  // namespace hetsim::workload
