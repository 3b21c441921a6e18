// `hetsim transfer`: concurrent flows on a node preset or a cluster file, idle vs contended times.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <sstream>

#include "support.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {
/// The row of `output` whose flow column starts with `flow`.
std::vector<std::string> row(const std::string& output, const std::string& flow) {
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind(flow, 0) == 0) {
      std::istringstream words(line.substr(flow.size()));
      std::vector<std::string> out;
      for (std::string w; words >> w;) out.push_back(w);
      return out;  // bytes value, unit, idle ms, sim ms, slowdown, route...
    }
  FAIL("no row for " << flow);
  return {};
}
}  // namespace

TEST_CASE("transfer command: two GPUs behind one PCIe uplink share it, a third does not", "[e2e][transfer]") {
  const auto r = test::run_hetsim(
      "transfer hgx-h100 --flow gpu0.hbm:host.dram:4GB --flow gpu1.hbm:host.dram:4GB --flow gpu2.hbm:host.dram:4GB");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  // hw/nodes/hgx-h100.yaml: GPU link 64 GB/s (1 us) > switch uplink 64 GB/s (1 us) > DRAM (100 ns).
  const double idle_ms = 1e3 * (4e9 / 64e9 + 2.1e-6);
  for (const char* gpu : {"gpu0.hbm", "gpu1.hbm", "gpu2.hbm"}) {
    const auto cols = row(r.output, std::string(gpu) + " -> host.dram");
    REQUIRE(cols.size() >= 6);
    CHECK(std::stod(cols[2]) == Approx(idle_ms).epsilon(1e-4));
    const double expected = std::string(gpu) == "gpu2.hbm" ? idle_ms : 1e3 * (2 * 4e9 / 64e9 + 2.1e-6);
    CHECK(std::stod(cols[3]) == Approx(expected).epsilon(1e-4));
  }
  CHECK_THAT(r.output, Contains("pcie_gpu0 > uplink0") && Contains("pcie_gpu2 > uplink1"));
}

TEST_CASE("transfer command: a cluster file routes across the fabric, and bad flows exit 2", "[e2e][transfer]") {
  test::TempDir dir("transfer_cli");
  const auto file = dir.write("cluster.yaml", R"(
node_types:
  fast:
    tiers: [{name: gpu0.hbm, kind: hbm, capacity: 80 GB, bandwidth: 3.35 TB/s}]
    links: []
    nics: [{name: nic0, attach: gpu0.hbm, bandwidth: 400 Gbps, latency: 2 us, kind: ib}]
  slow:
    tiers: [{name: gpu0.hbm, kind: hbm, capacity: 80 GB, bandwidth: 2 TB/s}]
    links: []
    nics: [{name: nic0, attach: gpu0.hbm, bandwidth: 100 Gbps, latency: 2 us, kind: roce}]
nodes: [{name: a, type: fast}, {name: b, type: slow}]
fabric: {kind: fat_tree, nodes_per_leaf: 1, uplink_bandwidth: 800 Gbps, latency: 1 us}
)");
  auto r = test::run_hetsim(fmt::format("transfer '{}' --flow a/gpu0.hbm:b/gpu0.hbm:1GB", file));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto cols = row(r.output, "a/gpu0.hbm -> b/gpu0.hbm");
  // The slower NIC (100 Gb/s = 12.5 GB/s) binds; simulated equals the analytic idle time.
  CHECK(std::stod(cols[3]) == Approx(std::stod(cols[2])).epsilon(1e-6));
  CHECK(std::stod(cols[3]) > 1e3 * 1e9 / 12.5e9);
  CHECK(std::stod(cols[3]) < 1e3 * (1e9 / 12.5e9 + 20e-6));

  r = test::run_hetsim(fmt::format("transfer '{}' --flow a/gpu0.hbm:c/gpu0.hbm", file));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("c/gpu0.hbm"));
  r = test::run_hetsim("transfer gh200 --flow gpu0.hbm:grace.lpddr5x:lots");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("--flow gpu0.hbm:grace.lpddr5x:lots"));
  r = test::run_hetsim("transfer gh2000 --flow a:b");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("did you mean 'gh200'"));
}
