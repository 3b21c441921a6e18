// Benchmark of the simulator itself (not a test): replays the Azure LLM inference conversation
// trace (19,366 requests, 1 h) on 4 replicas of Llama-3-8B on H100 and reports wall time,
// simulated requests per wall-second, engine events per second and peak RSS.
//
//   build/hetsim_bench [TRACE] [--no-files] [--mooncake [--no-prefix-caching]]
//
// The trace defaults to ../shared/data/azure_llm_2023/AzureLLMInferenceTrace_conv.csv beside the
// source tree. With --no-files results stay in memory (engine cost alone); by default every result
// file a normal run writes (requests.csv, steps.csv, summary.json, resolved.yaml) is written.
// --mooncake replays Mooncake's conversation trace instead (12,031 requests with prefix hash ids,
// ../shared/data/mooncake/conversation_trace.jsonl) on 4 replicas of Llama-3.1-8B with chunked
// prefill and vLLM's prefix caching (--no-prefix-caching: plain paged blocks).
#include <fmt/format.h>
#include <sys/resource.h>

#include <chrono>
#include <cstring>
#include <filesystem>

#include "sim/core/config.hpp"
#include "sim/core/error.hpp"
#include "sim/metrics/recorder.hpp"
#include "sim/scenario/run_description.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/engine/serving_engine.hpp"
#include "sim/metrics/summary.hpp"

#ifndef HETSIM_SOURCE_DIR
#define HETSIM_SOURCE_DIR "."
#endif

int main(int argc, char** argv) {
  using namespace hetsim;
  std::string trace = std::string(HETSIM_SOURCE_DIR) + "/../shared/data/azure_llm_2023/AzureLLMInferenceTrace_conv.csv";
  bool files = true, mooncake = false, prefix_caching = true, trace_given = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--no-files") == 0) {
      files = false;
    } else if (std::strcmp(argv[i], "--mooncake") == 0) {
      mooncake = true;
    } else if (std::strcmp(argv[i], "--no-prefix-caching") == 0) {
      prefix_caching = false;
    } else if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      fmt::print("Usage: hetsim_bench [TRACE] [--no-files] [--mooncake [--no-prefix-caching]]\n"
                 "Replays an Azure LLM inference trace (default {}) on 4 x H100 Llama-3-8B and reports the simulator's\n"
                 "wall time, requests and events per wall-second and peak RSS.\n"
                 "  --no-files           keep results in memory (engine cost alone)\n"
                 "  --mooncake           Mooncake's conversation trace on 4 x H100 Llama-3.1-8B, sarathi, prefix caching\n"
                 "  --no-prefix-caching  with --mooncake: plain paged KV blocks\n",
                 trace);
      return 0;
    } else if (argv[i][0] == '-') {
      fmt::print(stderr, "error: unknown option '{}'; valid: --no-files, --mooncake, --no-prefix-caching, --help\n", argv[i]);
      return 2;
    } else {
      trace = argv[i];
      trace_given = true;
    }
  }
  if (!prefix_caching && !mooncake) {
    fmt::print(stderr, "error: --no-prefix-caching goes with --mooncake\n");
    return 2;
  }
  if (mooncake && !trace_given) trace = std::string(HETSIM_SOURCE_DIR) + "/../shared/data/mooncake/conversation_trace.jsonl";
  if (!std::filesystem::exists(trace)) {
    fmt::print(stderr, "trace not found: {}\n(get it from {})\n", trace,
               mooncake ? "kvcache-ai/Mooncake, FAST25-release/traces/conversation_trace.jsonl"
                        : "Azure/AzurePublicDataset, AzureLLMInferenceTrace_conv.csv");
    return 2;
  }
  const std::string azure_yaml = fmt::format(R"(
name: bench_azure_conv
model: llama-3-8b
cluster: {{device: h100-sxm5-80gb, replicas: 4}}
policies: {{scheduler: {{impl: vllm}}, router: {{impl: round_robin}}}}
workload: {{source: azure, file: "{}"}}
)",
                                       std::filesystem::absolute(trace).string());
  const std::string mooncake_yaml = fmt::format(R"(
name: bench_mooncake_conv
model: llama-3.1-8b
cluster: {{device: h100-sxm5-80gb, replicas: 4}}
policies:
  scheduler: {{impl: sarathi, max_num_batched_tokens: 8192}}
  kv_cache: {{impl: {}}}
  router: {{impl: least_outstanding}}
workload: {{source: mooncake, file: "{}"}}
)",
                                                prefix_caching ? "prefix_caching" : "paged", std::filesystem::absolute(trace).string());
  const std::string& yaml = mooncake ? mooncake_yaml : azure_yaml;
  try {
    const auto t0 = std::chrono::steady_clock::now();
    auto doc = config::Document::load_string(yaml, "bench");
    sim::Scenario sc = sim::load_scenario(doc);
    const auto t1 = std::chrono::steady_clock::now();
    const std::string out = files ? (std::filesystem::temp_directory_path() / "hetsim_bench_out").string() : "";
    sim::Recorder recorder(sim::describe_run(sc), out);
    const auto stats = sim::run_serving(sc, recorder);
    if (files) {
      sim::write_summary(recorder);
      recorder.commit();
    }
    const auto t2 = std::chrono::steady_clock::now();
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const double load_s = std::chrono::duration<double>(t1 - t0).count();
    const double sim_s = std::chrono::duration<double>(t2 - t1).count();
    const double wall = load_s + sim_s;
    const sim::RequestCounts& counts = recorder.tally().counts();
    fmt::print("hetsim_bench: {}, {} requests ({} completed, {} rejected)\n",
               mooncake ? fmt::format("Mooncake conv trace, 4 x H100 Llama-3.1-8B, sarathi, {}",
                                      prefix_caching ? "prefix caching" : "no prefix caching")
                        : std::string("Azure conv trace, 4 x H100 Llama-3-8B, vllm"),
               counts.requests, counts.completed, counts.rejected);
    fmt::print("  simulated time     {:.1f} s, {} model steps\n", recorder.end_time(), recorder.step_count());
    fmt::print("  wall time          {:.3f} s (load {:.3f} s + simulate{} {:.3f} s)\n", wall, load_s,
               files ? " & write files" : "", sim_s);
    fmt::print("  requests / wall-s  {:.0f}\n", static_cast<double>(counts.requests) / wall);
    fmt::print("  events / wall-s    {:.0f} ({} arrivals + steps; {} steps were SimGrid events, the rest coalesced, "
               "{} of them steady decodes)\n",
               static_cast<double>(stats.events) / sim_s, stats.events, stats.engine_events, stats.steady_steps);
    fmt::print("  peak RSS           {:.1f} MB\n", static_cast<double>(usage.ru_maxrss) / 1024.0);
    if (files) fmt::print("  results            {}\n", out);
  } catch (const InputError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
  return 0;
}
