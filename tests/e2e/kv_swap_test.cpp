// Swap preemption end to end: evicted KV crosses the node's links as transfers (hw/nodes,
// sim/engine/transfer_network) and comes back on resume; nothing is recomputed.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {

constexpr double kLlama3KvBytesPerToken = 32 * 8 * 128 * 2 * 2;  // layers x KV heads x head dim x (K,V) x bf16

// Llama-3-8B on H100s with a quarter of memory for the cache (~22k tokens per replica) under long
// generations: many evictions.
std::string pressure_scenario(const test::TempDir& dir, const std::string& cluster, const std::string& preemption) {
  return dir.write("scenario.yaml",
                   fmt::format("model: llama-3-8b\ncluster: {}\n"
                               "policies:\n  kv_cache: {{gpu_memory_utilization: 0.25}}\n  preemption: {}\n"
                               "workload:\n  source: synthetic\n  num_requests: 300\n  arrival: {{rate: 40}}\n"
                               "  prompt_tokens: {{dist: uniform, min: 500, max: 3000}}\n"
                               "  output_tokens: {{dist: uniform, min: 200, max: 1500}}\n",
                               cluster, preemption));
}

struct Run {
  std::vector<std::map<std::string, std::string>> requests, steps;
  nlohmann::json summary;
};

Run run(const std::string& scenario, const test::TempDir& dir) {
  auto r = test::run_hetsim("run --quiet '" + scenario + "' --out '" + dir.file("out") + "' --set output.steps=full");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return {test::read_csv(dir.file("out/requests.csv")), test::read_csv(dir.file("out/steps.csv")),
          nlohmann::json::parse(test::read_file(dir.file("out/summary.json")))};
}

double num(const std::map<std::string, std::string>& row, const char* key) { return std::stod(row.at(key)); }

/// Prompt tokens of all requests, and prompt tokens the steps fed (more when prompts are recomputed).
std::pair<std::int64_t, std::int64_t> prompt_and_prefilled_tokens(const Run& run) {
  std::int64_t prompts = 0, prefilled = 0;
  for (const auto& q : run.requests) prompts += std::stoll(q.at("prompt_tokens"));
  for (const auto& s : run.steps) prefilled += std::stoll(s.at("prefill_tokens"));
  return {prompts, prefilled};
}

/// Every step with copies waited exactly max(out, in) bytes / bottleneck + route latency (out and
/// in use opposite directions of every link, so they do not contend); returns how many did.
int check_idle_copy_times(const Run& run, double bottleneck, double latency) {
  int steps_with_copies = 0;
  for (const auto& s : run.steps) {
    const double out = num(s, "swap_out_tokens"), in = num(s, "swap_in_tokens");
    if (out == 0 && in == 0) {
      REQUIRE(num(s, "transfer_s") == 0);
      continue;
    }
    ++steps_with_copies;
    const double expected = std::max(out, in) * kLlama3KvBytesPerToken / bottleneck + latency;
    REQUIRE(num(s, "transfer_s") == Approx(expected).epsilon(1e-6));
    REQUIRE(num(s, "duration_s") > num(s, "transfer_s"));  // the step also computes
  }
  return steps_with_copies;
}

}  // namespace

TEST_CASE("kv swap: evicted KV goes to host DRAM and back over PCIe at bytes / bandwidth + latency, nothing is recomputed",
          "[e2e][swap]") {
  test::TempDir dir("swap_pcie");
  // No node given: each replica's device sits behind its catalog host link (PCIe Gen5 x16, 64 GB/s
  // per direction, 2 us) to its own host DRAM.
  const auto sc = pressure_scenario(dir, "{device: h100-sxm5-80gb, replicas: 2}", "{impl: swap, swap_space: 64 GiB}");
  const Run r = run(sc, dir);
  CHECK(r.summary["requests"]["completed"].get<int>() == 300);
  CHECK(r.summary["preemptions"].get<int>() > 0);
  CHECK(check_idle_copy_times(r, 64e9, 2e-6) > 0);
  // Every token swapped out came back, and each prompt token was prefilled exactly once.
  const auto& swap = r.summary["kv_swap"];
  CHECK(swap["out_tokens"].get<std::int64_t>() > 0);
  CHECK(swap["out_tokens"] == swap["in_tokens"]);
  CHECK(swap["bytes"].get<double>() == Approx(2 * swap["out_tokens"].get<double>() * kLlama3KvBytesPerToken));
  const auto [prompts, prefilled] = prompt_and_prefilled_tokens(r);
  CHECK(prefilled == prompts);
}

TEST_CASE("kv swap: on a GH200 node the copies cross NVLink-C2C and the LPDDR5X bandwidth binds", "[e2e][swap]") {
  test::TempDir dir("swap_gh200");
  const auto sc = pressure_scenario(dir, "{device: gh200-96gb, node: gh200}", "{impl: swap, swap_space: 64 GiB}");
  const Run r = run(sc, dir);
  CHECK(r.summary["preemptions"].get<int>() > 0);
  // hw/nodes/gh200.yaml: C2C 450 GB/s (1 us) into grace.lpddr5x at 342 GB/s (100 ns).
  CHECK(check_idle_copy_times(r, 342e9, 1e-6 + 100e-9) > 0);
}

TEST_CASE("kv swap: recompute instead redoes the evicted prompts", "[e2e][swap]") {
  test::TempDir dir("swap_recompute");
  const auto sc = pressure_scenario(dir, "{device: h100-sxm5-80gb, replicas: 2}", "{impl: recompute}");
  const Run r = run(sc, dir);
  const auto [prompts, prefilled] = prompt_and_prefilled_tokens(r);
  CHECK(r.summary["preemptions"].get<int>() > 0);
  CHECK(prefilled > prompts);
  CHECK_FALSE(r.summary.contains("kv_swap"));
}

TEST_CASE("kv swap: two replicas swapping at once on one PCIe switch uplink each get half of it", "[e2e][swap]") {
  test::TempDir dir("swap_hgx");
  // Every request arrives twice at the same instant, so round-robin gives replica 0 (gpu0) and
  // replica 1 (gpu1) identical work: they step in lockstep and evict the same KV at the same
  // simulated times. Both GPUs sit behind pcie_sw0 of hw/nodes/hgx-h100.yaml, whose one x16 uplink
  // (64 GB/s per direction) is a shared link: two equal copies in one direction take twice as long
  // as one.
  std::string trace;
  for (int i = 0; i < 150; ++i) {
    const int in = 500 + (i * 617) % 2500, out = 200 + (i * 379) % 1300;
    for (int copy = 0; copy < 2; ++copy)
      trace += fmt::format("{{\"timestamp\": {}, \"input_length\": {}, \"output_length\": {}}}\n", i * 50, in, out);
  }
  dir.write("pairs.jsonl", trace);
  const auto sc = dir.write(
      "scenario.yaml",
      "model: llama-3-8b\ncluster: {device: h100-sxm5-80gb, node: hgx-h100, replicas: 2}\n"
      "policies:\n  router: {impl: round_robin}\n  kv_cache: {gpu_memory_utilization: 0.25}\n"
      "  preemption: {impl: swap, swap_space: 64 GiB}\n"
      "workload: {source: mooncake, file: pairs.jsonl}\n");
  const Run r = run(sc, dir);
  REQUIRE(r.summary["kv_swap"]["out_tokens"].get<std::int64_t>() > 0);
  std::map<std::string, const std::map<std::string, std::string>*> replica1;  // start_s -> step of replica 1
  for (const auto& s : r.steps)
    if (s.at("replica") == "1") replica1[s.at("start_s")] = &s;
  const double latency = 2e-6 + 100e-9;  // GPU link 1 us + uplink 1 us + DRAM 100 ns
  int overlapped = 0;
  for (const auto& s : r.steps) {
    if (s.at("replica") != "0") continue;
    const double out = num(s, "swap_out_tokens"), in = num(s, "swap_in_tokens");
    if (out == 0 && in == 0) continue;
    // Lockstep: replica 1 starts a step at the same time with the same copies.
    const auto twin = replica1.find(s.at("start_s"));
    REQUIRE(twin != replica1.end());
    REQUIRE(num(*twin->second, "swap_out_tokens") == out);
    REQUIRE(num(*twin->second, "swap_in_tokens") == in);
    // Out and in run in opposite directions; in each direction two equal flows share 64 GB/s.
    const double bytes = std::max(out, in) * kLlama3KvBytesPerToken;
    const double idle = bytes / 64e9 + latency, shared = bytes / 32e9 + latency;
    INFO("step at " << s.at("start_s") << ": " << bytes << " bytes");
    CHECK(num(s, "transfer_s") == Approx(shared).epsilon(1e-6));
    CHECK(num(*twin->second, "transfer_s") == Approx(shared).epsilon(1e-6));
    CHECK((num(s, "transfer_s") - latency) / (idle - latency) == Approx(2.0).epsilon(1e-6));  // the slowdown
    ++overlapped;
  }
  INFO(overlapped << " steps with overlapping copies");
  CHECK(overlapped >= 10);
}

TEST_CASE("kv swap: bad swap configurations are one clear error each", "[e2e][swap][errors]") {
  test::TempDir dir("swap_errors");
  const std::string base = test::source_dir() + "/scenarios/gh200_kv_swap.yaml";
  auto expect = [&](const std::string& sets, std::initializer_list<const char*> parts) {
    const auto r = test::run_hetsim(fmt::format("validate '{}' {}", base, sets));
    INFO(r.output);
    CHECK(r.exit_code == 2);
    for (const char* p : parts) CHECK_THAT(r.output, Contains(p));
  };
  expect("--set policies.preemption.swap_space=600GB",
         {"policies.preemption.swap_space", "reserve 600.0 GB, more than grace.lpddr5x holds (480.0 GB)"});
  expect("--set policies.preemption.to=gpu0.hbm", {"policies.preemption.to", "expected a non-HBM tier"});
  expect("--set policies.preemption.to=nvme9", {"policies.preemption.to = nvme9", "has no such tier; its tiers: gpu0.hbm, grace.lpddr5x, nvme0"});
  // TP2 on one-GPU GH200 nodes spans two nodes, whose KV cannot be swapped to a node tier.
  expect("--set cluster.tensor_parallel=2", {"cluster.node", "swap preemption are not modelled", "spanning nodes"});
  expect("--set cluster.node=gh2000", {"cluster.node", "did you mean 'gh200'"});
}

TEST_CASE("kv swap: a node without a route to the swap tier is rejected naming it", "[e2e][swap][errors]") {
  test::TempDir dir("swap_noroute");
  const auto sc = pressure_scenario(
      dir,
      "{device: h100-sxm5-80gb, node: {tiers: [{name: gpu0.hbm, kind: hbm, capacity: 80 GB, bandwidth: 3.35 TB/s}, "
      "{name: host.dram, kind: dram, capacity: 1 TB, bandwidth: 300 GB/s}], links: []}}",
      "{impl: swap}");
  const auto r = test::run_hetsim("validate '" + sc + "'");
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("policies.preemption.to") && Contains("no route from 'gpu0.hbm' to 'host.dram'"));
}
