// Scenarios with cluster.fabric: runs build one network of all node instances; bad fabric keys
// exit 2 naming the key path.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <set>

#include "support.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {
/// Two hgx-h100 nodes (16 TP1 replicas) that swap KV to host DRAM; `fabric` empty: none.
std::string scenario(const test::TempDir& dir, const std::string& fabric, const std::string& file = "scenario.yaml") {
  return dir.write(file, fmt::format(R"(
model: llama-3-8b
cluster:
  device: h100-sxm5-80gb
  node: hgx-h100
  replicas: 16
{}
policies:
  preemption: {{impl: swap, swap_space: 4 GiB}}
  kv_cache: {{impl: paged, gpu_memory_utilization: 0.22}}
workload: {{source: synthetic, num_requests: 200, arrival: {{process: poisson, rate: 200}},
            prompt_tokens: {{dist: uniform, min: 500, max: 3000}}, output_tokens: {{dist: uniform, min: 200, max: 800}}}}
)",
                                     fabric.empty() ? "" : "  fabric: " + fabric));
}
}  // namespace

TEST_CASE("platform CLI: a serving run on two hgx-h100 nodes joined by a rail fabric", "[e2e][platform]") {
  test::TempDir dir("platform_cli");
  const auto with = test::run_hetsim(fmt::format(
      "run --quiet '{}' --out '{}' --set output.steps=full", scenario(dir, "{kind: rail, uplink_bandwidth: 800 Gbps, latency: 1 us}", "a.yaml"), dir.file("a")));
  INFO(with.output);
  REQUIRE(with.exit_code == 0);
  const auto without =
      test::run_hetsim(fmt::format("run --quiet '{}' --out '{}' --set output.steps=full", scenario(dir, "", "b.yaml"), dir.file("b")));
  INFO(without.output);
  REQUIRE(without.exit_code == 0);
  // Swapping stays inside each node (device <-> host DRAM), so the fabric changes no result, and
  // the swaps did happen (the KV cache is small for this load).
  const auto requests = test::read_file(dir.file("a/requests.csv"));
  CHECK(requests == test::read_file(dir.file("b/requests.csv")));
  const auto steps = test::read_csv(dir.file("a/steps.csv"));
  CHECK(test::read_file(dir.file("a/steps.csv")) == test::read_file(dir.file("b/steps.csv")));
  double swapped = 0;
  std::set<std::string> replicas;
  for (const auto& row : steps) {
    swapped += std::stod(row.at("swap_out_tokens"));
    if (std::stod(row.at("swap_out_tokens")) > 0) replicas.insert(row.at("replica"));
  }
  CHECK(swapped > 0);
  CHECK(replicas.size() > 8);  // replicas of both nodes swapped
  CHECK_THAT(test::read_file(dir.file("a/resolved.yaml")), Contains("fabric") && Contains("rail"));
}

TEST_CASE("platform CLI: bad fabric configuration exits 2 naming the key path", "[e2e][platform]") {
  test::TempDir dir("platform_cli_bad");
  auto r = test::run_hetsim(fmt::format("validate '{}'", scenario(dir, "{kind: torus, uplink_bandwidth: 800 Gbps}")));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("cluster.fabric.kind") && Contains("torus") && Contains("fat_tree"));
  r = test::run_hetsim(fmt::format("validate '{}'", scenario(dir, "{kind: fat_tree, uplink_bandwidth: 800 Gbps}")));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("cluster.fabric") && Contains("nodes_per_leaf"));
  r = test::run_hetsim(fmt::format("validate '{}'", scenario(dir, "{kind: rail, uplink_bandwidth: -3 Gbps}")));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("cluster.fabric.uplink_bandwidth"));
  r = test::run_hetsim(fmt::format("validate '{}'", scenario(dir, "{kind: rail, uplink_bandwidth: 1 Gbps, spine: 2}")));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("cluster.fabric.spine"));
}
