#include "workload/mooncake_trace.hpp"

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"
#include "workload/trace_options.hpp"

namespace hetsim::workload {

std::vector<Request> read_mooncake_trace(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: cannot open file", path));
  std::vector<Request> out;
  std::string text;
  std::size_t line = 0;
  std::int64_t first_ms = 0, prev_ms = 0;
  auto fail = [&](const std::string& msg) { throw InputError(fmt::format("{}:{}: {}", path, line, msg)); };
  while (std::getline(in, text)) {
    ++line;
    if (text.empty() || text == "\r") continue;
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
    if (!out.empty() && ms < prev_ms)
      fail(fmt::format("timestamp = {}: earlier than the line before ({}); expected non-decreasing arrival times (ms)", ms,
                       prev_ms));
    if (!out.empty() && ms - first_ms > kMaxTraceSpanSeconds * 1000)
      fail(fmt::format("timestamp = {}: {:.3g} s after the first line; expected a trace spanning at most 1 year", ms,
                       static_cast<double>(ms - first_ms) / 1000.0));
    if (out.empty()) first_ms = ms;
    prev_ms = ms;
    r.arrival = static_cast<double>(ms) / 1000.0;
    r.prompt_tokens = integer("input_length", 1);
    r.output_tokens = integer("output_length", 1);
    if (const auto it = j.find("hash_ids"); it != j.end()) {
      if (!it->is_array()) fail(fmt::format("hash_ids = {}: expected a list of integers", it->dump()));
      r.hash_ids.reserve(it->size());
      for (const auto& id : *it) {
        if (!id.is_number_unsigned()) fail(fmt::format("hash_ids entry {}: expected an integer >= 0", id.dump()));
        r.hash_ids.push_back(id.get<std::uint32_t>());
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

using MooncakeTraceSource = TraceFileSource<&read_mooncake_trace>;

HETSIM_REGISTER(WorkloadSource, MooncakeTraceSource, "mooncake",
                "Mooncake JSONL trace (timestamp ms, input_length, output_length, hash_ids); rate_scale, limit");
}  // namespace hetsim::workload
