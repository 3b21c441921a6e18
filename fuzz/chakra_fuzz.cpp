// Fuzz target: the Chakra execution-trace reader (length-prefixed protobuf messages) and the
// dependency graph a replay builds from what it returns. Seeds: fuzz/seeds/chakra_trace (a small
// hand-made trace with every node type; real traces are never copied into the repository).
// Besides the InputError contract: every op the reader returns has a finite, non-negative
// duration and size, and the graph accepts it or refuses it with an InputError.
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "fuzz/fuzz_support.hpp"
#include "workload/exec_trace/chakra_trace.hpp"
#include "workload/exec_trace/trace_graph.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hetsim::exec_trace;
  const std::string path = hetsim::fuzz::write_scratch("trace.0.et", data, size);
  for (const bool drop : {false, true})
    hetsim::fuzz::expect_input_errors_only([&] {
      const RankTrace t = read_chakra_trace(path, {.ctrl_deps = !drop, .drop_unknown_deps = drop});
      for (const auto& op : t.ops)
        if (!std::isfinite(op.duration) || op.duration < 0 || !std::isfinite(op.bytes) || op.bytes < 0 || op.flops < 0) {
          std::fprintf(stderr, "fuzz finding: op %llu accepted with duration %g, bytes %g, flops %g\n",
                       static_cast<unsigned long long>(op.id), op.duration, op.bytes, op.flops);
          std::abort();
        }
      (void)build_trace_graph(t);
    });
  return 0;
}
