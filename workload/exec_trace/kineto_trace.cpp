#include "workload/exec_trace/kineto_trace.hpp"

#include "sim/core/error.hpp"

namespace hetsim::exec_trace {

// Placeholder until the Kineto reader lands (feature branch); refuses rather than guesses.
RankTrace read_kineto_trace(const std::string& path) {
  throw InputError(path + ": reading Kineto traces is not built yet");
}

}  // namespace hetsim::exec_trace
