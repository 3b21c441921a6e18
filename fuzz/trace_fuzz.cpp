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

std::unique_ptr<hetsim::workload::RequestStream> open(const std::string& path) {
  using namespace hetsim::workload;
#if HETSIM_FUZZ_READER == 1
  return open_azure_trace(path);
#elif HETSIM_FUZZ_READER == 2
  return open_mooncake_trace(path);
#else
  return open_burstgpt_trace(path);
#endif
}

/// Reads every request of `stream`, checking each as it comes.
void check(hetsim::workload::RequestStream& stream) {
  double last = 0;
  while (const auto r = stream.next()) {
    if (!std::isfinite(r->arrival) || r->arrival < 0 || r->arrival < last || r->prompt_tokens < 1 || r->output_tokens < 1) {
      std::fprintf(stderr, "fuzz finding: request %lld accepted with arrival %g (previous %g), %lld prompt, %lld output tokens\n",
                   static_cast<long long>(r->id), r->arrival, last, static_cast<long long>(r->prompt_tokens),
                   static_cast<long long>(r->output_tokens));
      std::abort();
    }
    last = r->arrival;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = hetsim::fuzz::write_scratch("trace", data, size);
  hetsim::fuzz::expect_input_errors_only([&] { check(*open(path)); });
  return 0;
}
