// Fuzz target: the unit-aware quantity parser ("80 GiB", "3.35 TB/s"). The first byte picks the
// dimension, the rest is the text. A value it accepts must be finite and must survive formatting
// and parsing again (what resolved.yaml and the summary do with it).
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "fuzz/fuzz_support.hpp"
#include "sim/core/units.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hetsim;
  if (size == 0) return 0;
  constexpr units::Dim dims[] = {units::Dim::bytes, units::Dim::bandwidth, units::Dim::flop_rate, units::Dim::time,
                                 units::Dim::frequency};
  const units::Dim dim = dims[data[0] % 5];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  fuzz::expect_input_errors_only([&] {
    const double v = units::parse(text, dim);
    if (!std::isfinite(v)) {
      std::fprintf(stderr, "fuzz finding: '%.*s' parsed to %g\n", static_cast<int>(text.size()), text.data(), v);
      std::abort();
    }
    const std::string shown = units::format(v, dim);
    try {
      (void)units::parse(shown, dim);
    } catch (const InputError& e) {
      std::fprintf(stderr, "fuzz finding: %g formatted as '%s', which does not parse back: %s\n", v, shown.c_str(), e.what());
      std::abort();
    }
  });
  return 0;
}
