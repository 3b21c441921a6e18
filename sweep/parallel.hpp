#pragma once
// Runs fn(i) for i in [0, n) on up to `jobs` threads (each typically waiting on a child process).
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace hetsim::sweep {

template <class Fn>
void parallel_for(std::size_t n, unsigned jobs, Fn fn) {
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto worker = [&] {
    for (std::size_t i; (i = next++) < n;) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        next = n;  // stop handing out work
      }
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < std::max(1u, std::min<unsigned>(jobs, static_cast<unsigned>(n))); ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace hetsim::sweep
