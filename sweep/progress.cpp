#include "sweep/progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

namespace hetsim::sweep {
namespace {
std::string clock_text(double s) {
  const auto t = static_cast<long>(s + 0.5);
  return t >= 3600 ? fmt::format("{}h{:02d}m", t / 3600, (t % 3600) / 60) : fmt::format("{}m{:02d}s", t / 60, t % 60);
}
}  // namespace

Progress::Progress(std::size_t total, std::size_t skipped, bool quiet)
    : total_(total), tty_(isatty(STDERR_FILENO) != 0), quiet_(quiet), start_(std::chrono::steady_clock::now()) {
  if (!quiet_ && skipped > 0) fmt::print(stderr, "sweep: {} point(s) already done, skipped\n", skipped);
}

void Progress::finished(const std::string& name, bool ok, double seconds) {
  std::lock_guard lock(mutex_);
  ++done_;
  failed_ += ok ? 0 : 1;
  if (quiet_) return;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double eta = done_ ? elapsed / static_cast<double>(done_) * static_cast<double>(total_ - done_) : 0;
  if (tty_) {
    constexpr int kWidth = 30;
    const int filled = total_ ? static_cast<int>(kWidth * done_ / total_) : kWidth;
    fmt::print(stderr, "\r[{:=<{}}{:<{}}] {}/{} points{}  elapsed {}  ETA {}   ", "", filled, "", kWidth - filled, done_,
               total_, failed_ ? fmt::format(" ({} failed)", failed_) : "", clock_text(elapsed), clock_text(eta));
  } else {
    fmt::print(stderr, "sweep: [{}/{}] {} {} in {:.2f} s, ETA {}\n", done_, total_, name, ok ? "done" : "FAILED", seconds,
               clock_text(eta));
  }
}

void Progress::close() {
  std::lock_guard lock(mutex_);
  if (!quiet_ && tty_ && total_ > 0) fmt::print(stderr, "\n");
}

}  // namespace hetsim::sweep
