// Fuzz target: sweep specs (`hetsim sweep SPEC`): axes, ranges, zip/grid expansion, searches, `set`.
// The spec is written next to a copy of the quickstart scenario, so "base: quickstart.yaml" (the
// seeds' form) resolves. Expanding a spec must not build an unbounded number of points.
#include <filesystem>

#include "fuzz/fuzz_support.hpp"
#include "sweep/spec.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  namespace fs = std::filesystem;
  fs::copy_file(hetsim::fuzz::source_dir() / "scenarios" / "quickstart.yaml",
                hetsim::fuzz::scratch_dir() / "quickstart.yaml", fs::copy_options::overwrite_existing);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = hetsim::fuzz::write_scratch("sweep.yaml", data, size);
  hetsim::fuzz::expect_input_errors_only([&] { (void)hetsim::sweep::Spec::load(path); });
  return 0;
}
