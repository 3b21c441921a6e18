#include "workload/mooncake_trace.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"
#include "workload/trace_options.hpp"

namespace hetsim::workload {

namespace {
/// The trace's lines, one at a time, checked as they are read.
class MooncakeTraceStream final : public RequestStream {
 public:
  explicit MooncakeTraceStream(const std::string& path) : path_(path), in_(path) {
    if (!in_) throw InputError(fmt::format("{}: cannot open file", path));
  }

  std::optional<Request> next() override {
    while (!done_ && std::getline(in_, text_)) {
      ++line_;
      if (text_.empty() || text_ == "\r") continue;
      return parse(text_);
    }
    done_ = true;
    return std::nullopt;
  }

 private:
  [[noreturn]] void fail(const std::string& msg) const { throw InputError(fmt::format("{}:{}: {}", path_, line_, msg)); }

  Request parse(const std::string& text) {
    const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) fail("not a JSON object");
    auto integer = [&](const char* key, std::int64_t min) {
      const auto it = j.find(key);
      if (it == j.end()) fail(fmt::format("missing field '{}'", key));
      if (!it->is_number_integer() || it->get<std::int64_t>() < min)
        fail(fmt::format("{} = {}: expected an integer >= {}", key, it->dump(), min));
      return it->get<std::int64_t>();
    };
    Request r;
    const std::int64_t ms = integer("timestamp", 0);
    if (!first_ && ms < prev_ms_)
      fail(fmt::format("timestamp = {}: earlier than the line before ({}); expected non-decreasing arrival times (ms)", ms,
                       prev_ms_));
    if (!first_ && ms - first_ms_ > kMaxTraceSpanSeconds * 1000)
      fail(fmt::format("timestamp = {}: {:.3g} s after the first line; expected a trace spanning at most 1 year", ms,
                       static_cast<double>(ms - first_ms_) / 1000.0));
    if (first_) first_ms_ = ms;
    prev_ms_ = ms;
    r.arrival = static_cast<double>(ms) / 1000.0;
    r.prompt_tokens = integer("input_length", 1);
    r.output_tokens = integer("output_length", 1);
    if (const auto it = j.find("hash_ids"); it != j.end()) {
      if (!it->is_array()) fail(fmt::format("hash_ids = {}: expected a list of integers", it->dump()));
      r.hash_ids.reserve(it->size());
      for (const auto& id : *it) {
        if (!id.is_number_unsigned()) fail(fmt::format("hash_ids entry {}: expected an integer >= 0", id.dump()));
        r.hash_ids.push_back(id.get<std::uint64_t>());
      }
      // Mooncake's ids name 512-token blocks of the prompt (the last one may be partial).
      r.hash_block_tokens = 512;
      r.hash_tokens = std::min<std::int64_t>(r.prompt_tokens, static_cast<std::int64_t>(r.hash_ids.size()) * 512);
    }
    first_ = false;
    return r;
  }

  std::string path_;
  std::ifstream in_;
  std::string text_;  ///< the current line (its buffer is reused from line to line)
  std::size_t line_ = 0;
  bool first_ = true, done_ = false;
  std::int64_t first_ms_ = 0, prev_ms_ = 0;
};
}  // namespace

std::unique_ptr<RequestStream> open_mooncake_trace(const std::string& path) { return std::make_unique<MooncakeTraceStream>(path); }

using MooncakeTraceSource = TraceFileSource<&open_mooncake_trace>;

HETSIM_REGISTER(WorkloadSource, MooncakeTraceSource, "mooncake",
                "Mooncake JSONL trace (timestamp ms, input_length, output_length, hash_ids); rate_scale, limit");
}  // namespace hetsim::workload
