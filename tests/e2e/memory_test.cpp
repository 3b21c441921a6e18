// The run summary's memory breakdown (one line per pool, `memory` in summary.json) end to end: its
// terms add up to the KV cache, the KV cache to the blocks the replicas run with, and bad values
// stop the run with exit code 2 and the key path.
#include <catch2/catch.hpp>

#include <cmath>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "support.hpp"

using namespace hetsim;
using Catch::Matchers::Contains;

namespace {
constexpr double GiB = 1 << 30;
std::string quickstart() { return test::source_dir() + "/scenarios/quickstart.yaml"; }
}  // namespace

TEST_CASE("memory: the summary shows the KV budget and it adds up", "[e2e][memory]") {
  test::TempDir dir("memory");
  const auto r = test::run_hetsim("run '" + quickstart() + "' --out '" + dir.str() + "/out' --set workload.num_requests=20");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  // Llama-3-8B on an H100 under vLLM V1: 79.18 GiB reported by the driver, 14.96 GiB of weights,
  // the sampler's peak over 256 sequences, vLLM 0.11's 0.13 GiB of non-torch memory, no graph pool.
  CHECK_THAT(r.output, Contains("memory      h100-sxm5-80gb, per device (GiB): 79.18 usable x 0.9 - (14.96 weights, "
                                "1.23 activation peak, 0.13 non-torch, 0.00 CUDA graphs) = 54.94 KV"));
  const auto summary = nlohmann::json::parse(test::read_file(dir.str() + "/out/summary.json"));
  REQUIRE(summary["memory"].size() == 1);  // one pool of two replicas
  const auto& m = summary["memory"][0];
  const double kv = m["kv_bytes"];
  CHECK(kv == Approx(m["usable_bytes"].get<double>() * m["gpu_memory_utilization"].get<double>() -
                     m["weights_bytes"].get<double>() - m["activation_bytes"].get<double>() -
                     m["non_torch_bytes"].get<double>() - m["cuda_graphs_bytes"].get<double>()));
  CHECK(m["usable_source"] == "driver-reported total");
  CHECK(m["activation_source"] == "computed peak of the largest step");
  // 2 x 8 KV heads x 128 x 32 layers x 2 bytes = 128 KiB per token, 16 tokens a block.
  const auto blocks = static_cast<std::int64_t>(std::floor(kv / (131072.0 * 16)));
  CHECK(m["kv_blocks"] == blocks);
  for (const auto& replica : summary["replicas"]) CHECK(replica["kv_blocks_total"] == blocks);
  CHECK_THAT(r.output, Contains(fmt::format("{} blocks of 16 tokens", blocks)));
}

TEST_CASE("memory: overrides and per-pool lines", "[e2e][memory]") {
  test::TempDir dir("memory_overrides");
  SECTION("kv_cache_memory sets the KV size; activation_reserve replaces the peak") {
    const auto r = test::run_hetsim("run '" + quickstart() + "' --quiet --out '" + dir.str() +
                                    "/out' --set workload.num_requests=5 --set policies.kv_cache.kv_cache_memory=10GiB "
                                    "--set policies.kv_cache.activation_reserve=2GiB");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    const auto m = nlohmann::json::parse(test::read_file(dir.str() + "/out/summary.json"))["memory"][0];
    CHECK(m["kv_source"] == "kv_cache_memory");
    CHECK(m["kv_bytes"].get<double>() == Approx(10 * GiB));
    CHECK(m["kv_blocks"] == 5120);  // 10 GiB / 2 MiB blocks
    CHECK(m["activation_source"] == "activation_reserve");
    CHECK(m["activation_bytes"].get<double>() == Approx(2 * GiB));
  }
  SECTION("a mixed fleet prints one line per pool, each with its own device and TP degree") {
    const auto r = test::run_hetsim(
        "run '" + quickstart() + "' --out '" + dir.str() + "/out' --set workload.num_requests=5 --set "
        "'cluster={pools: [{device: h100-sxm5-80gb, replicas: 1}, {device: h200-sxm-141gb, replicas: 1, tensor_parallel: 2}]}'");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Contains("memory      h100-sxm5-80gb, per device (GiB): 79.18 usable x 0.9"));
    // No driver figure for the H200: the datasheet's 141 GB; TP2 halves the weights, non-torch as TP2.
    CHECK_THAT(r.output, Contains("memory      h200-sxm-141gb TP2, per device (GiB): 131.32 usable (datasheet) x 0.9 - "
                                  "(7.48 weights, 1.23 activation peak, 0.55 non-torch"));
    const auto summary = nlohmann::json::parse(test::read_file(dir.str() + "/out/summary.json"));
    CHECK(summary["memory"].size() == 2);
  }
}

TEST_CASE("memory: bad values exit 2 with one clear message", "[e2e][memory][errors]") {
  struct Case {
    std::string set, expect;
  };
  const std::vector<Case> cases = {
      {"policies.kv_cache.gpu_memory_utilization=1.2", "policies.kv_cache.gpu_memory_utilization = 1.2: expected"},
      {"policies.kv_cache.gpu_memory_utilization=-0.5", "policies.kv_cache.gpu_memory_utilization = -0.5: expected"},
      {"policies.kv_cache.activation_reserve=-1GiB", "policies.kv_cache.activation_reserve = -1GiB: expected"},
      {"policies.kv_cache.kv_cache_memory=-1GiB", "policies.kv_cache.kv_cache_memory = -1GiB: expected"},
      {"policies.kv_cache.kv_cache_memory=70GiB", "policies.kv_cache.kv_cache_memory = 70GiB: expected at most the"},
      {"cluster.device.memory.usable=-5GiB", "cluster.device.memory.usable = -5GiB: expected"},
      {"cluster.device.memory.usable=90GiB", "cluster.device.memory.usable = 90GiB: expected at most the capacity"},
      {"serving.stack.preset=vllm-v1' --set 'serving.stack.memory.non_torch=-1GiB",
       "serving.stack.memory.non_torch = -1GiB: expected"},
      {"serving.stack.preset=vllm-v1' --set 'serving.stack.cuda_graphs.pool=-1GiB",
       "serving.stack.cuda_graphs.pool = -1GiB: expected"},
  };
  for (const auto& c : cases) {
    INFO(c.set);
    const auto r = test::run_hetsim("validate '" + quickstart() + "' --set '" + c.set + "'");
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains(c.expect));
    CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);  // one line
  }
}
