#include "workload/burstgpt_trace.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "sim/core/io/csv.hpp"
#include "sim/core/registry.hpp"
#include "workload/trace_options.hpp"

namespace hetsim::workload {

namespace {
constexpr const char* kModels[] = {"ChatGPT", "GPT-4"};
constexpr const char* kLogTypes[] = {"Conversation log", "API log"};

/// `value` if it is one of `valid`, else an error naming the column and the valid values.
template <std::size_t N>
void check_one_of(const CsvReader& csv, const char* column, const std::string& value, const char* const (&valid)[N]) {
  std::string list;
  for (const char* v : valid) {
    if (value == v) return;
    list += fmt::format("{}\"{}\"", list.empty() ? "" : " or ", v);
  }
  csv.fail(fmt::format("{} = \"{}\": expected {}", column, value, list));
}

std::int64_t token_count(const CsvReader& csv, std::size_t index, const char* column) {
  const std::string& f = csv.field(index);
  std::int64_t v = 0;
  const auto [p, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
  if (ec != std::errc{} || p != f.data() + f.size() || v < 0)
    csv.fail(fmt::format("{} = \"{}\": expected an integer >= 0", column, f));
  return v;
}
}  // namespace

namespace {
/// The trace's kept rows, one at a time; every row is checked as it is read, kept or not.
class BurstGptStream final : public RequestStream {
 public:
  BurstGptStream(const std::string& path, BurstGptFilter filter)
      : filter_(std::move(filter)),
        csv_(path),
        ts_(csv_.column("Timestamp")),
        model_(csv_.column("Model")),
        req_(csv_.column("Request tokens")),
        resp_(csv_.column("Response tokens")),
        log_(csv_.column("Log Type")) {}

  std::optional<Request> next() override {
    while (!done_ && csv_.next()) {
      const std::string& text = csv_.field(ts_);
      double t = 0;
      const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), t);
      if (ec != std::errc{} || p != text.data() + text.size() || !std::isfinite(t) || t < 0)
        csv_.fail(fmt::format("Timestamp = \"{}\": expected seconds from the start of the trace (a number >= 0)", text));
      // Time order and span are checked over every row, kept or not, as in the other trace readers.
      if (!first_ && t < prev_)
        csv_.fail(fmt::format("Timestamp = \"{}\": earlier than the row before ({}); expected non-decreasing arrival times",
                              text, prev_));
      if (!first_ && t - t0_ > static_cast<double>(kMaxTraceSpanSeconds))
        csv_.fail(fmt::format("Timestamp = \"{}\": {:.3g} s after the first row; expected a trace spanning at most 1 year",
                              text, t - t0_));
      if (first_) t0_ = t;
      first_ = false;
      prev_ = t;
      check_one_of(csv_, "Model", csv_.field(model_), kModels);
      check_one_of(csv_, "Log Type", csv_.field(log_), kLogTypes);
      const std::int64_t prompt = token_count(csv_, req_, "Request tokens");
      const std::int64_t output = token_count(csv_, resp_, "Response tokens");
      if (output == 0) continue;  // a failed request: no serving work to replay
      if (prompt == 0)
        csv_.fail(fmt::format("Request tokens = \"0\": expected an integer >= 1 (Response tokens is {}, so the request "
                              "did not fail)", output));
      if (!filter_.model.empty() && csv_.field(model_) != filter_.model) continue;
      if (!filter_.log_type.empty() && csv_.field(log_) != filter_.log_type) continue;
      Request r;
      r.arrival = t;
      r.prompt_tokens = prompt;
      r.output_tokens = output;
      return r;
    }
    done_ = true;
    return std::nullopt;
  }

 private:
  BurstGptFilter filter_;
  CsvReader csv_;
  std::size_t ts_, model_, req_, resp_, log_;  ///< column indices
  bool first_ = true, done_ = false;
  double t0_ = 0, prev_ = 0;  ///< the first and the previous row's Timestamp
};
}  // namespace

std::unique_ptr<RequestStream> open_burstgpt_trace(const std::string& path, const BurstGptFilter& filter) {
  return std::make_unique<BurstGptStream>(path, filter);
}

namespace {
/// `workload: {source: burstgpt, file, model: all | ChatGPT | GPT-4, log_type: all | conversation | api,
/// rate_scale, limit}`: the filters apply before `limit`.
class BurstGptSource final : public WorkloadSource {
 public:
  explicit BurstGptSource(const config::Node& cfg) : file_(cfg.file_path("file")) {
    const std::string model = cfg.get<std::string>("model").default_to("all").one_of({"all", "ChatGPT", "GPT-4"});
    const std::string log = cfg.get<std::string>("log_type").default_to("all").one_of({"all", "conversation", "api"});
    filter_.model = model == "all" ? "" : model;
    filter_.log_type = log == "conversation" ? "Conversation log" : log == "api" ? "API log" : "";
    options_ = TraceOptions::parse(cfg);
  }
  std::unique_ptr<RequestStream> open(std::uint64_t) const override { return options_.apply(open_burstgpt_trace(file_, filter_)); }

 private:
  std::string file_;
  BurstGptFilter filter_;
  TraceOptions options_;
};
}  // namespace

HETSIM_REGISTER(WorkloadSource, BurstGptSource, "burstgpt",
                "BurstGPT CSV (Timestamp s, Model, Request/Response tokens, Log Type; failed rows skipped); model, "
                "log_type, rate_scale, limit");
}  // namespace hetsim::workload
