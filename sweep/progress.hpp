#pragma once
// Progress of a sweep on stderr: a redrawn bar with ETA on a terminal, one plain line per finished
// point otherwise (logs, CI, cluster jobs). Thread-safe.
#include <chrono>
#include <mutex>
#include <string>

namespace hetsim::sweep {

class Progress {
 public:
  /// `total` points to run now; `skipped` were already done (resumed).
  Progress(std::size_t total, std::size_t skipped, bool quiet);
  void finished(const std::string& name, bool ok, double seconds);
  /// Ends the bar line.
  void close();

 private:
  std::mutex mutex_;
  std::size_t total_, done_ = 0, failed_ = 0;
  bool tty_, quiet_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace hetsim::sweep
