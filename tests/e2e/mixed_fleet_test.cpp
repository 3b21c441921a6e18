// Mixed fleets: pools of different devices behind one router, reported per pool.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace hetsim;
using Catch::Contains;

TEST_CASE("mixed fleet: per-pool results follow each device's memory bandwidth", "[e2e][pools]") {
  test::TempDir dir("mixed");
  const auto r = test::run_hetsim(fmt::format("run '{}/scenarios/mixed_fleet.yaml' --set workload.num_requests=400 --out '{}'",
                                              test::source_dir(), dir.str()));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("h100-sxm5-80gb") && Contains("a100-sxm4-80gb") && Contains("TPOT p90 ms"));
  const auto s = nlohmann::json::parse(test::read_file(dir.file("summary.json")));
  REQUIRE(s["pools"].size() == 2);
  const auto& h100 = s["pools"][0];
  const auto& a100 = s["pools"][1];
  CHECK(h100["name"] == "h100-sxm5-80gb");
  CHECK(a100["replicas"] == 4);
  CHECK(h100["completed"].get<int>() + a100["completed"].get<int>() == 400);
  // Decode is HBM-bound: the A100's per-token time exceeds the H100's by about their bandwidth ratio.
  const double ratio = a100["latency_s"]["tpot"]["p50"].get<double>() / h100["latency_s"]["tpot"]["p50"].get<double>();
  CHECK(ratio > 1.3);
  CHECK(ratio < 2.5);
  // Load-aware routing gives each faster replica more work.
  CHECK(h100["completed"].get<double>() / 2 > a100["completed"].get<double>() / 4);
  CHECK(s["gpus"] == 6);
  CHECK(s["cost_per_hour"].get<double>() == Approx(2 * 3.24 + 4 * 1.99));
}

TEST_CASE("mixed fleet: pool configuration errors name the pool", "[e2e][pools]") {
  test::TempDir dir("mixed_bad");
  const auto both = dir.write("both.yaml", "model: llama-3-8b\ncluster:\n  device: h100-sxm5-80gb\n  pools:\n    - {device: a100-sxm4-80gb}\n"
                                           "workload: {source: synthetic, num_requests: 1, arrival: {rate: 1}, prompt_tokens: 5, output_tokens: 5}\n");
  auto r = test::run_hetsim("validate '" + both + "'");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("both.yaml:3: cluster.device") && Contains("not both"));
  const auto tp = dir.write("tp.yaml", "model: llama-3-8b\ncluster:\n  pools:\n    - {device: h100-sxm5-80gb}\n    - {device: a100-sxm4-80gb, tensor_parallel: 3}\n"
                                       "workload: {source: synthetic, num_requests: 1, arrival: {rate: 1}, prompt_tokens: 5, output_tokens: 5}\n");
  r = test::run_hetsim("validate '" + tp + "'");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("tp.yaml:5: cluster.pools[1].tensor_parallel = 3"));
}

TEST_CASE("mixed fleet: a request too large for one pool is routed to a pool that holds it", "[e2e][pools]") {
  // At 37% of device memory, an L40S (48 GB) keeps ~0.6 GB for KV next to Llama-3-8B's 16 GB of
  // weights (~4.8k tokens); an H100 (80 GB) keeps ~12.5 GB (~95k tokens).
  test::TempDir dir("mixed_fit");
  const auto spec = dir.write("fit.yaml",
                              "model: llama-3-8b\ncluster:\n  pools:\n    - {device: l40s-48gb, replicas: 2}\n"
                              "    - {device: h100-sxm5-80gb, replicas: 1}\n"
                              "policies: {kv_cache: {gpu_memory_utilization: 0.37}, router: {impl: round_robin}}\n"
                              "workload: {source: synthetic, num_requests: 120, arrival: {rate: 2},\n"
                              "           prompt_tokens: {dist: uniform, min: 100, max: 7000}, output_tokens: 200}\n");
  const auto r = test::run_hetsim("run --quiet '" + spec + "' --out '" + dir.file("out") + "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto s = nlohmann::json::parse(test::read_file(dir.file("out/summary.json")));
  CHECK(s["requests"]["rejected"] == 0);
  const std::int64_t l40s_blocks = s["replicas"][0]["kv_blocks_total"].get<std::int64_t>();
  int big = 0;
  for (const auto& row : test::read_csv(dir.file("out/requests.csv"))) {
    const auto tokens = std::stoll(row.at("prompt_tokens")) + std::stoll(row.at("output_tokens")) - 1;
    if ((tokens + 15) / 16 > l40s_blocks) {
      ++big;
      CHECK(row.at("replica") == "2");  // only the H100 replica can hold it
    }
  }
  CHECK(big > 0);
}

TEST_CASE("mixed fleet: GPU, NPU and CPU pools behind one router, per-kind results ordered by memory bandwidth",
          "[e2e][pools][kinds]") {
  test::TempDir dir("mixed_kinds");
  const auto spec = dir.write(
      "kinds.yaml",
      "model: llama-3-8b\ncluster:\n  pools:\n    - {device: h100-sxm5-80gb}\n    - {device: tpu-v4}\n"
      "    - {device: xeon-8480plus}\npolicies: {router: {impl: least_outstanding}}\n"
      "workload: {source: synthetic, num_requests: 150, arrival: {rate: 3}, prompt_tokens: 500, output_tokens: 100}\n");
  const auto r = test::run_hetsim(fmt::format("run '{}' --out '{}'", spec, dir.file("out")));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto s = nlohmann::json::parse(test::read_file(dir.file("out/summary.json")));
  REQUIRE(s["pools"].size() == 3);
  CHECK(s["pools"][0]["device_kind"] == "gpu");
  CHECK(s["pools"][1]["device_kind"] == "npu");
  CHECK(s["pools"][2]["device_kind"] == "cpu");
  int completed = 0;
  for (const auto& p : s["pools"]) completed += p["completed"].get<int>();
  CHECK(completed == 150);
  // Decode is memory-bound on all three: 3.35 TB/s HBM3 > 1.2 TB/s HBM2 > 307 GB/s DDR5.
  const auto tpot = [&](int i) { return s["pools"][i]["latency_s"]["tpot"]["p50"].get<double>(); };
  CHECK(tpot(0) < tpot(1));
  CHECK(tpot(1) < tpot(2));
  CHECK_THAT(r.output, Contains("npu") && Contains("cpu"));
}
