// Fuzz targets: the trace readers (Azure LLM inference CSV, Mooncake JSONL, BurstGPT CSV). One
// source, built once per reader with HETSIM_FUZZ_READER naming it; seeds: tests/fixtures/traces.
// Besides the InputError contract, every request a reader returns must be usable by the engine:
// positive token counts and finite arrivals that never go backwards.
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "fuzz/fuzz_support.hpp"
#include "workload/azure_trace.hpp"
#include "workload/burstgpt_trace.hpp"
#include "workload/mooncake_trace.hpp"

namespace {

std::vector<hetsim::Request> read(const std::string& path) {
  using namespace hetsim::workload;
#if HETSIM_FUZZ_READER == 1
  return read_azure_trace(path);
#elif HETSIM_FUZZ_READER == 2
  return read_mooncake_trace(path);
#else
  return read_burstgpt_trace(path);
#endif
}

void check(const std::vector<hetsim::Request>& requests) {
  double last = 0;
  for (const auto& r : requests) {
    if (!std::isfinite(r.arrival) || r.arrival < 0 || r.arrival < last || r.prompt_tokens < 1 || r.output_tokens < 1) {
      std::fprintf(stderr, "fuzz finding: request %lld accepted with arrival %g (previous %g), %lld prompt, %lld output tokens\n",
                   static_cast<long long>(r.id), r.arrival, last, static_cast<long long>(r.prompt_tokens),
                   static_cast<long long>(r.output_tokens));
      std::abort();
    }
    last = r.arrival;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = hetsim::fuzz::write_scratch("trace", data, size);
  hetsim::fuzz::expect_input_errors_only([&] { check(read(path)); });
  return 0;
}
