#pragma once
// Clean stops on SIGINT / SIGTERM. install() makes both signals only set a flag (the handler does
// nothing else, so it is safe wherever it lands); long-running code calls check() at safe points,
// which throws Interrupted, and the stack unwinds normally (temporary result folders are removed
// by their destructors). Child processes registered with track_child() get the signal forwarded
// to them from the handler (kill() is async-signal-safe).
#include <sys/types.h>

#include <exception>

namespace hetsim::interrupt {

/// Thrown by check() once SIGINT or SIGTERM arrived. Exit code: 128 + signal.
class Interrupted : public std::exception {
 public:
  explicit Interrupted(int signal) : signal_(signal) {}
  int signal() const { return signal_; }
  int exit_code() const { return 128 + signal_; }
  const char* what() const noexcept override { return "interrupted"; }

 private:
  int signal_;
};

/// Routes SIGINT and SIGTERM to the flag (idempotent).
void install();
/// Re-installs the handlers if install() was called (after a library replaced them, e.g. SimGrid).
void reinstall();
/// Blocks SIGINT/SIGTERM in this thread while alive (a pending signal is delivered afterwards).
class Block {
 public:
  Block();
  ~Block();
  Block(const Block&) = delete;
  Block& operator=(const Block&) = delete;

 private:
  unsigned long long saved_[16];
};
/// The signal received (0: none).
int pending();
/// Throws Interrupted if a signal was received.
inline void check() {
  if (const int s = pending()) throw Interrupted(s);
}
/// Forward later signals to child process `pgid` until
/// untrack_child(); if a signal already arrived, forwards it at once.
void track_child(pid_t pgid);
void untrack_child(pid_t pgid);
/// For tests: forget a received signal.
void reset();

}  // namespace hetsim::interrupt
