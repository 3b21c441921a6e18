#pragma once
// Mooncake trace (kvcache-ai/Mooncake, FAST'25; Apache-2.0): JSON lines with timestamp (ms,
// relative), input_length, output_length and hash_ids (one id per 512-token prefix block; equal ids
// mark reusable KV prefixes, kept on the request for prefix caching).
#include <memory>
#include <string>

#include "workload/request_stream.hpp"

namespace hetsim::workload {

/// The trace's requests, read line by line; malformed lines are InputErrors naming "file:line".
std::unique_ptr<RequestStream> open_mooncake_trace(const std::string& path);

}  // namespace hetsim::workload
