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
      const auto dot = line.rfind('.', eq);
      const std::string key = line.substr(dot == std::string::npos || dot > eq ? 0 : dot + 1,
                                          eq - (dot == std::string::npos || dot > eq ? 0 : dot + 1));
      if (fuzz::too_big(key, line.substr(eq + 1))) return -1;
      if (line.substr(eq + 1).find('{') != std::string::npos || line.substr(eq + 1).find('[') != std::string::npos) {
        // Flow maps and lists given as values are checked as YAML too.
        try {
          if (fuzz::too_big(YAML::Load(line.substr(eq + 1)))) return -1;
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
