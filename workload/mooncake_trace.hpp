#pragma once
// Mooncake trace (kvcache-ai/Mooncake, FAST'25; Apache-2.0): JSON lines with timestamp (ms,
// relative), input_length, output_length and hash_ids (one id per 512-token prefix block; equal ids
// mark reusable KV prefixes, kept on the request for prefix caching).
#include <string>
#include <vector>

#include "sim/core/request.hpp"

namespace hetsim::workload {

/// Reads the trace; malformed lines are InputErrors naming "file:line".
std::vector<Request> read_mooncake_trace(const std::string& path);

}  // namespace hetsim::workload
