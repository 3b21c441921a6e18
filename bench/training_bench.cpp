// Benchmark of the training simulator's cost (not a test): loads a training scenario, simulates
// its iterations without writing files, and reports load and simulation wall time, simulated
// passes and network flows, the simulated step time, and peak RSS.
//
//   build/hetsim_training_bench bench/training/gpt3_175b_1024xh100.yaml
//   build/hetsim_training_bench bench/training/llama31_405b_16384xh100.yaml
//
// The targets on the 2-core development machine: <= 5 s and <= 1 GB for GPT-3 175B on
// 1,024 H100s, <= 60 s for the 16,384-GPU run.
#include <fmt/format.h>
#include <sys/resource.h>

#include <chrono>
#include <string>

#include "sim/core/config.hpp"
#include "sim/core/error.hpp"
#include "sim/engine/training_engine.hpp"
#include "sim/scenario/run_description.hpp"
#include "sim/scenario/training_scenario.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    fmt::print(stderr, "usage: {} TRAINING_SCENARIO.yaml\n", argv[0]);
    return 2;
  }
  using clock = std::chrono::steady_clock;
  try {
    const auto t0 = clock::now();
    const auto doc = hetsim::config::Document::load_file(argv[1]);
    const auto sc = hetsim::sim::load_training_scenario(doc);
    const auto t1 = clock::now();
    const auto records = hetsim::sim::run_training(sc);
    const auto t2 = clock::now();
    const auto summary = hetsim::sim::summarize(hetsim::sim::describe_training_run(sc), records);
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const double load = std::chrono::duration<double>(t1 - t0).count();
    const double sim = std::chrono::duration<double>(t2 - t1).count();
    fmt::print("{}: {} {}\n", sc.name, sc.model.name, sc.describe());
    fmt::print("  load {:.3f} s, simulate {:.3f} s for {} iteration(s): {} passes, {} flows ({:.2f} simulated iterations/s)\n",
               load, sim, records.iterations.size(), records.passes, records.transfers,
               static_cast<double>(records.iterations.size()) / sim);
    fmt::print("  simulated step {:.3f} s, {:.1f} model TFLOP/s/GPU, MFU {:.1f}%\n", summary.step_time,
               summary.model_tflops_per_gpu, 100 * summary.mfu);
    fmt::print("  peak RSS {:.0f} MB\n", static_cast<double>(usage.ru_maxrss) / 1024);
  } catch (const hetsim::InputError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
  return 0;
}
