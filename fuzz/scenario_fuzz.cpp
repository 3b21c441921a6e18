// Fuzz target: a scenario file, loaded the way `hetsim validate` and `hetsim run` load it (YAML
// parse, unknown-key check, every validation, the workload built; a training scenario priced and
// its memory checked; a trace replay's traces read). Seeds: scenarios/*.yaml (serving, training, replay).
// Relative paths in the input (trace files) resolve against the scratch folder, so only absolute
// ones can reach a file: the loader must refuse anything that is not a regular file.
#include <yaml-cpp/yaml.h>

#include "fuzz/bounded_workload.hpp"
#include "fuzz/fuzz_support.hpp"
#include "sim/core/config.hpp"
#include "sim/scenario/replay_scenario.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/scenario/training_scenario.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hetsim;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    if (fuzz::too_big(YAML::Load(text))) return -1;  // -1: not added to the corpus
  } catch (...) {
    // Unparseable: the loader must say so with an InputError, checked below.
  }
  const std::string path = fuzz::write_scratch("scenario.yaml", data, size);
  fuzz::expect_input_errors_only([&] {
    const auto doc = config::Document::load_file(path);
    if (sim::is_training(doc)) (void)sim::load_training_scenario(doc);
    else if (sim::is_replay(doc)) (void)sim::load_replay_scenario(doc);
    else (void)sim::load_scenario(doc);
  });
  return 0;
}
