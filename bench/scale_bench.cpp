// Benchmark of the simulator's cost against the fleet size (not a test): N Poisson requests on R
// replicas of Llama-3-8B TP1 on H100, the arrival rate growing with R so that every replica sees
// the same load. Reports setup (scenario load), simulation wall time, µs per request and peak RSS.
//
//   build/hetsim_scale_bench [--replicas R] [--requests N] [--router round_robin|least_outstanding]
//                            [--rate-per-replica X]
//
// Results stay in memory (no files): the figure is the engine's own cost, arrivals and routing
// included, which is what grows with R.
#include <fmt/format.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

#include "sim/core/config.hpp"
#include "sim/core/error.hpp"
#include "sim/engine/serving_engine.hpp"
#include "sim/metrics/recorder.hpp"
#include "sim/scenario/run_description.hpp"
#include "sim/scenario/scenario.hpp"

namespace {

struct Options {
  long replicas = 64;
  long requests = 100000;
  std::string router = "round_robin";
  double rate_per_replica = 2.0;  ///< requests/s per replica: well under one H100's capacity here
};

/// Parses the command line; exits 0 on --help and 2 on a bad option.
Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        fmt::print(stderr, "error: {} needs a value\n", a);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--replicas") {
      o.replicas = std::atol(value().c_str());
    } else if (a == "--requests") {
      o.requests = std::atol(value().c_str());
    } else if (a == "--router") {
      o.router = value();
    } else if (a == "--rate-per-replica") {
      o.rate_per_replica = std::atof(value().c_str());
    } else if (a == "--help" || a == "-h") {
      fmt::print("Usage: hetsim_scale_bench [--replicas R] [--requests N] [--router round_robin|least_outstanding]\n"
                 "                          [--rate-per-replica X]\n"
                 "Runs N Poisson requests (default 100000) on R replicas (default 64) of Llama-3-8B TP1 on H100 at X\n"
                 "requests/s per replica (default 2) and prints one line: setup and simulation wall seconds, µs per\n"
                 "request and peak RSS.\n");
      std::exit(0);
    } else {
      fmt::print(stderr, "error: unknown option '{}'; valid: --replicas, --requests, --router, --rate-per-replica, --help\n", a);
      std::exit(2);
    }
  }
  if (o.replicas < 1 || o.requests < 1 || o.rate_per_replica <= 0) {
    fmt::print(stderr, "error: --replicas and --requests must be at least 1 and --rate-per-replica positive\n");
    std::exit(2);
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace hetsim;
  const Options o = parse(argc, argv);
  // Short prompts and outputs: the steps stay cheap, so the per-arrival cost shows.
  const std::string yaml = fmt::format(R"(
name: scale_bench
seed: 1
model: llama-3-8b
cluster: {{device: h100-sxm5-80gb, replicas: {}, tensor_parallel: 1}}
policies: {{scheduler: {{impl: vllm}}, router: {{impl: {}}}}}
workload:
  source: synthetic
  num_requests: {}
  arrival: {{process: poisson, rate: {}}}
  prompt_tokens: {{dist: lognormal, median: 256, sigma: 0.5, max: 2048}}
  output_tokens: {{dist: lognormal, median: 32, sigma: 0.5, max: 256}}
)",
                                       o.replicas, o.router, o.requests, o.rate_per_replica * static_cast<double>(o.replicas));
  try {
    const auto t0 = std::chrono::steady_clock::now();
    auto doc = config::Document::load_string(yaml, "scale_bench");
    sim::Scenario sc = sim::load_scenario(doc);
    const auto t1 = std::chrono::steady_clock::now();
    sim::Recorder recorder(sim::describe_run(sc), "");
    const auto stats = sim::run_serving(sc, recorder);
    const auto t2 = std::chrono::steady_clock::now();
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const double load_s = std::chrono::duration<double>(t1 - t0).count();
    const double sim_s = std::chrono::duration<double>(t2 - t1).count();
    fmt::print("replicas {} requests {} router {}: load {:.3f} s, simulate {:.3f} s, {:.2f} us/request, {} events "
               "({} steady decodes), simulated {:.1f} s, at most {} requests in flight, peak RSS {:.1f} MB\n",
               o.replicas, sc.totals.requests, o.router, load_s, sim_s, 1e6 * sim_s / static_cast<double>(sc.totals.requests),
               stats.events, stats.steady_steps, recorder.end_time(), stats.peak_sequences,
               static_cast<double>(usage.ru_maxrss) / 1024.0);
  } catch (const InputError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
  return 0;
}
