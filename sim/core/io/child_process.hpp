#pragma once
// Runs hetsim itself as a child process (each simulation needs its own process: SimGrid allows
// one engine per process) with its output captured to a log file.
#include <string>
#include <vector>

namespace hetsim {

/// Path of the running hetsim executable.
std::string self_executable();

/// Runs `exe args...` with stdout and stderr appended to `log`; blocks; returns the exit code
/// (128 + signal if killed). SIGINT/SIGTERM received by this process are forwarded to the
/// child (see interrupt::install). Throws interrupt::Interrupted
/// instead of starting a child once such a signal arrived. Thread-safe.
int run_child(const std::string& exe, const std::vector<std::string>& args, const std::string& log);

}  // namespace hetsim
