#pragma once
// The first failure of any actor of a simulation, kept to be rethrown once SimGrid returns.
#include <simgrid/s4u.hpp>

#include <exception>

namespace hetsim::sim {

class ActorFailure {
 public:
  /// Runs `body`; on any exception records it and stops the simulation. kill_all makes SimGrid
  /// unwind every other actor with its own (forced-exit) exception: that one must go on up to
  /// SimGrid, and must not replace the failure (rethrown by rethrow(), it used to end in std::terminate).
  template <class F>
  void guard(F&& body) {
    try {
      body();
    } catch (...) {
      if (failure_) throw;
      failure_ = std::current_exception();
      simgrid::s4u::Actor::kill_all();
    }
  }
  /// Rethrows the recorded failure, if any.
  void rethrow() const {
    if (failure_) std::rethrow_exception(failure_);
  }

 private:
  std::exception_ptr failure_;
};

}  // namespace hetsim::sim
