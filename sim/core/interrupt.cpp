#include "sim/core/interrupt.hpp"

#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <pthread.h>

namespace hetsim::interrupt {
namespace {
std::atomic<int> g_signal{0};
std::atomic<bool> g_installed{false};
constexpr int kSlots = 1024;
std::atomic<pid_t> g_children[kSlots];
static_assert(std::atomic<pid_t>::is_always_lock_free && std::atomic<int>::is_always_lock_free);

extern "C" void on_signal(int sig) {
  const int saved_errno = errno;
  int expected = 0;
  g_signal.compare_exchange_strong(expected, sig);
  for (auto& c : g_children)
    if (const pid_t pid = c.load()) ::kill(pid, sig);
  errno = saved_errno;
}

void set_handlers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}
}  // namespace

void install() {
  g_installed = true;
  set_handlers();
}

void reinstall() {
  if (g_installed) set_handlers();
}

Block::Block() {
  static_assert(sizeof(sigset_t) <= sizeof(saved_));
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &block, reinterpret_cast<sigset_t*>(saved_));
}

Block::~Block() { pthread_sigmask(SIG_SETMASK, reinterpret_cast<sigset_t*>(saved_), nullptr); }

int pending() { return g_signal.load(std::memory_order_relaxed); }

void track_child(pid_t pgid) {
  for (auto& c : g_children) {
    pid_t expected = 0;
    if (c.compare_exchange_strong(expected, pgid)) break;
  }
  if (const int s = pending()) ::kill(pgid, s);
}

void untrack_child(pid_t pgid) {
  for (auto& c : g_children) {
    pid_t expected = pgid;
    if (c.compare_exchange_strong(expected, 0)) break;
  }
}

void reset() { g_signal = 0; }

}  // namespace hetsim::interrupt
