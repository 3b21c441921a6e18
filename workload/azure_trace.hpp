#pragma once
// Azure LLM inference trace 2023 (Patel et al., "Splitwise", ISCA'24; CC-BY-4.0):
// CSV with header TIMESTAMP,ContextTokens,GeneratedTokens; TIMESTAMP is wall-clock
// "YYYY-MM-DD HH:MM:SS.fffffff" (100 ns resolution).
#include <cstdint>
#include <string>
#include <vector>

#include "sim/core/request.hpp"

namespace hetsim::workload {

/// Reads the trace; arrivals are seconds since the first row. Malformed lines are InputErrors
/// naming "file:line".
std::vector<Request> read_azure_trace(const std::string& path);

/// Time since 1970-01-01 of "YYYY-MM-DD HH:MM:SS[.fraction]" (UTC, proleptic Gregorian) in integer
/// ticks of 100 ns, the trace's resolution (a double of epoch seconds would lose it); false if malformed.
bool parse_timestamp(const std::string& text, std::int64_t& ticks);

}  // namespace hetsim::workload
