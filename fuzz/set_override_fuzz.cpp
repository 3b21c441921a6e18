// Fuzz target: `--set KEY.PATH=VALUE` overrides (one per input line, at most 8) applied to the
// quickstart scenario, which is then loaded as `hetsim run` would. The overrides reach every key
// of the scenario schema, so this also fuzzes the validation of values given on the command line.
#include <sstream>
#include <vector>

#include "fuzz/bounded_workload.hpp"
#include "fuzz/fuzz_support.hpp"
#include "sim/core/config.hpp"
#include "sim/scenario/scenario.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hetsim;
  static const std::string base = (fuzz::source_dir() / "scenarios" / "quickstart.yaml").string();
  std::vector<std::string> sets;
  std::istringstream lines(std::string(reinterpret_cast<const char*>(data), size));
  for (std::string line; std::getline(lines, line) && sets.size() < 8;) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) {
      const std::string path = line.substr(0, eq), value = line.substr(eq + 1);
      const auto dot = path.rfind('.');
      if (fuzz::too_big(dot == std::string::npos ? path : path.substr(dot + 1), value)) return -1;
      // A flow map or list given as the value is checked as YAML too.
      if (value.find_first_of("{[") != std::string::npos) {
        try {
          if (fuzz::too_big(YAML::Load(value))) return -1;
        } catch (...) {
        }
      }
    }
    sets.push_back(line);
  }
  fuzz::expect_input_errors_only([&] {
    auto doc = config::Document::load_file(base);
    for (const auto& s : sets) doc.set_override(s, "--set");
    (void)sim::load_scenario(doc);
  });
  return 0;
}
