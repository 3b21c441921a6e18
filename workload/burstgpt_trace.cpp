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

std::vector<Request> read_burstgpt_trace(const std::string& path, const BurstGptFilter& filter) {
  CsvReader csv(path);
  const std::size_t ts = csv.column("Timestamp");
  const std::size_t model = csv.column("Model");
  const std::size_t req = csv.column("Request tokens");
  const std::size_t resp = csv.column("Response tokens");
  const std::size_t log = csv.column("Log Type");
  std::vector<Request> out;
  bool first = true;
  double t0 = 0, prev = 0;
  while (csv.next()) {
    const std::string& text = csv.field(ts);
    double t = 0;
    const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), t);
    if (ec != std::errc{} || p != text.data() + text.size() || !std::isfinite(t) || t < 0)
      csv.fail(fmt::format("Timestamp = \"{}\": expected seconds from the start of the trace (a number >= 0)", text));
    // Time order and span are checked over every row, kept or not, as in the other trace readers.
    if (!first && t < prev)
      csv.fail(fmt::format("Timestamp = \"{}\": earlier than the row before ({}); expected non-decreasing arrival times",
                           text, prev));
    if (!first && t - t0 > static_cast<double>(kMaxTraceSpanSeconds))
      csv.fail(fmt::format("Timestamp = \"{}\": {:.3g} s after the first row; expected a trace spanning at most 1 year",
                           text, t - t0));
    if (first) t0 = t;
    first = false;
    prev = t;
    check_one_of(csv, "Model", csv.field(model), kModels);
    check_one_of(csv, "Log Type", csv.field(log), kLogTypes);
    const std::int64_t prompt = token_count(csv, req, "Request tokens");
    const std::int64_t output = token_count(csv, resp, "Response tokens");
    if (output == 0) continue;  // a failed request: no serving work to replay
    if (prompt == 0)
      csv.fail(fmt::format("Request tokens = \"0\": expected an integer >= 1 (Response tokens is {}, so the request "
                           "did not fail)", output));
    if (!filter.model.empty() && csv.field(model) != filter.model) continue;
    if (!filter.log_type.empty() && csv.field(log) != filter.log_type) continue;
    Request r;
    r.arrival = t;
    r.prompt_tokens = prompt;
    r.output_tokens = output;
    out.push_back(std::move(r));
  }
  return out;
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
  std::vector<Request> generate(std::uint64_t) override {
    auto requests = read_burstgpt_trace(file_, filter_);
    options_.apply(requests);
    return requests;
  }

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
