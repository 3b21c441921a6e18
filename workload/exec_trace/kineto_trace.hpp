#pragma once
// Reads one rank's PyTorch profiler (Kineto) trace: Chrome-trace JSON, optionally gzip-compressed.
#include <string>

#include "workload/exec_trace/exec_trace.hpp"

namespace hetsim::exec_trace {

/// Reads `path`; InputError (exit 2) naming the file and what is wrong for a malformed trace.
RankTrace read_kineto_trace(const std::string& path);

}  // namespace hetsim::exec_trace
