#pragma once
// Reads a JSON document from a plain or gzip-compressed file, with a bound on its (decompressed)
// size, so that a trace reader gets one InputError instead of a crash or an exhausted memory.
#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace hetsim::exec_trace {

/// Default bound on a trace's decompressed size: 2 GiB (the largest Kineto traces we know of are
/// a few hundred MB of JSON; beyond this the parsed document would not fit a workstation).
inline constexpr std::size_t kMaxJsonBytes = std::size_t{2} << 30;

/// The bytes of `path`, gunzipped when it is gzip-compressed (detected by content, not by name).
/// InputError naming the file for a missing file, a truncated or corrupt gzip stream, or more than
/// `max_bytes` bytes after decompression.
std::string read_maybe_gzip(const std::string& path, std::size_t max_bytes = kMaxJsonBytes);

/// read_maybe_gzip, parsed as JSON; InputError naming the file and the byte offset if it is not.
nlohmann::json read_json_file(const std::string& path, std::size_t max_bytes = kMaxJsonBytes);

}  // namespace hetsim::exec_trace
