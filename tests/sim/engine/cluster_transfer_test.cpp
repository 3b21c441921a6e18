// Transfers across nodes joined by a fabric (fat tree or rails), with heterogeneous NICs.
// Figures are illustrative test values, not catalog entries. One simulation per TEST_CASE.
#include <catch2/catch.hpp>

#include "hw/cluster_router.hpp"
#include "hw/cluster_topology.hpp"
#include "sim/engine/simulate_transfers.hpp"
#include "sim/engine/transfer_probe.hpp"

using namespace hetsim;
namespace sg = simgrid::s4u;

namespace {

std::string cluster(const std::string& fabric) {
  return R"(
node_types:
  new:
    tiers:
      - {name: gpu0.hbm, kind: hbm, capacity: 80 GB, bandwidth: 3.35 TB/s}
      - {name: gpu1.hbm, kind: hbm, capacity: 80 GB, bandwidth: 3.35 TB/s}
    switches: [nvswitch]
    links:
      - {name: nvl0, kind: nvlink, between: [gpu0.hbm, nvswitch], bandwidth: 450 GB/s, latency: 1 us}
      - {name: nvl1, kind: nvlink, between: [gpu1.hbm, nvswitch], bandwidth: 450 GB/s, latency: 1 us}
    nics:
      - {name: nic0, attach: gpu0.hbm, bandwidth: 400 Gbps, latency: 2 us, kind: ib}
      - {name: nic1, attach: gpu1.hbm, bandwidth: 400 Gbps, latency: 2 us, kind: ib}
  old:
    tiers:
      - {name: gpu0.hbm, kind: hbm, capacity: 80 GB, bandwidth: 2 TB/s}
    links: []
    nics:
      - {name: nic0, attach: gpu0.hbm, bandwidth: 100 Gbps, latency: 2 us, kind: roce}
nodes:
  - {name: a, type: new}
  - {name: b, type: new}
  - {name: c, type: old}
fabric: )" + fabric + "\n";
}

hw::NodeTopology load(const std::string& fabric) {
  auto doc = config::Document::load_string(cluster(fabric), "cluster.yaml");
  auto topo = hw::parse_cluster_topology(doc.root());
  doc.check_unknown_keys();
  return topo;
}

constexpr double kGB = 1e9;
const char* kFatTree = "{kind: fat_tree, nodes_per_leaf: 2, uplink_bandwidth: 400 Gbps, latency: 1 us}";

}  // namespace

TEST_CASE("cluster: a transfer between nodes crosses both NICs, and the slower NIC bounds it", "[engine][transfer][cluster]") {
  double same_leaf = 0, to_old = 0;
  test::simulate_transfers(load(kFatTree), "a/gpu0.hbm", [&](sim::TransferNetwork& net) {
    same_leaf = net.move("a/gpu0.hbm", "b/gpu0.hbm", kGB);
    to_old = net.move("a/gpu0.hbm", "c/gpu0.hbm", kGB);
  });
  // a -> leaf0 -> b: 400 Gb/s = 50 GB/s, two NIC latencies.
  CHECK(same_leaf == Approx(kGB / 50e9 + 4e-6).epsilon(1e-6));
  // a -> leaf0 -> spine -> leaf1 -> c: c's 100 Gb/s RoCE NIC (12.5 GB/s) is the bottleneck;
  // latencies: 2 NICs (2 us each) + 2 leaf-spine links (1 us each).
  CHECK(to_old == Approx(kGB / 12.5e9 + 6e-6).epsilon(1e-6));
}

TEST_CASE("cluster: transfers into one NIC share it, transfers on separate NICs do not", "[engine][transfer][cluster]") {
  double shared = 0, separate = 0, alone = 0;
  test::simulate_transfers(load(kFatTree), "a/gpu0.hbm", [&](sim::TransferNetwork& net) {
    alone = net.move("a/gpu0.hbm", "b/gpu0.hbm", kGB);
    double t0 = sg::Engine::get_clock();
    auto x = net.start("a/gpu0.hbm", "c/gpu0.hbm", kGB);
    auto y = net.start("b/gpu0.hbm", "c/gpu0.hbm", kGB);  // both land on c's one NIC
    x.wait();
    y.wait();
    shared = sg::Engine::get_clock() - t0;
    t0 = sg::Engine::get_clock();
    auto p = net.start("a/gpu0.hbm", "b/gpu0.hbm", kGB);
    auto q = net.start("a/gpu1.hbm", "b/gpu1.hbm", kGB);  // NIC pairs 0 and 1: disjoint
    p.wait();
    q.wait();
    separate = sg::Engine::get_clock() - t0;
  });
  CHECK(shared == Approx(2 * kGB / 12.5e9 + 6e-6).epsilon(1e-6));
  CHECK(separate == Approx(alone).epsilon(1e-6));
}

TEST_CASE("cluster: a rail-optimized fabric joins NIC i of every node on rail i", "[engine][transfer][cluster]") {
  const auto topo = load("{kind: rail, uplink_bandwidth: 800 Gbps, latency: 1 us}");
  const auto path = topo.route("a/gpu1.hbm", "b/gpu1.hbm");
  REQUIRE(path.size() == 2);
  CHECK(topo.links[path[0].first].b == "rail1");
  double t = 0;
  test::simulate_transfers(topo, "a/gpu0.hbm", [&](sim::TransferNetwork& net) { t = net.move("a/gpu1.hbm", "b/gpu1.hbm", kGB); });
  CHECK(t == Approx(kGB / 50e9 + 4e-6).epsilon(1e-6));
}

TEST_CASE("cluster: an unknown node type is an error naming the key path", "[hw][cluster]") {
  auto doc = config::Document::load_string(
      "node_types:\n  new: {tiers: [{name: g, kind: hbm, capacity: 1 GB, bandwidth: 1 TB/s}], links: []}\n"
      "nodes:\n  - {name: a, type: nwe}\nfabric: {kind: fat_tree, nodes_per_leaf: 1, uplink_bandwidth: 1 GB/s}\n",
      "cluster.yaml");
  REQUIRE_THROWS_WITH(hw::parse_cluster_topology(doc.root()),
                      Catch::Contains("cluster.yaml:4: nodes[0].type = nwe") && Catch::Contains("new"));
}

TEST_CASE("cluster router: equal-cost routes leave the source node on the GPU's own NIC (its rail)", "[hw][cluster]") {
  auto doc = config::Document::load_string(cluster("{kind: rail, uplink_bandwidth: 800 Gbps, latency: 1 us}"), "cluster.yaml");
  const hw::ClusterRouter router(hw::parse_cluster(doc.root()));
  doc.check_unknown_keys();
  // a/gpu1 -> c/gpu0 (c has only nic0): out on nic1 and across the spine (2 + 1 + 1 + 2 us), or over
  // NVLink to gpu0 and out on nic0 (1 + 1 + 2 + 2 us): four hops and 6 us either way.
  std::vector<std::string> names;
  for (const auto& hop : router.route("a/gpu1.hbm", "c/gpu0.hbm")) names.push_back(router.link(hop).name);
  CHECK(names == std::vector<std::string>{"a/nic1", "rail1-spine", "rail0-spine", "c/nic0"});
  // Same rail: straight across it.
  names.clear();
  for (const auto& hop : router.route("a/gpu1.hbm", "b/gpu1.hbm")) names.push_back(router.link(hop).name);
  CHECK(names == std::vector<std::string>{"a/nic1", "b/nic1"});
  // Routes are found on demand: only what was asked for is cached.
  CHECK(router.cached_routes() <= 16);
}

TEST_CASE("cluster: two flows from one GPU, one inside its node and one to another node type, each take their idle time",
          "[engine][transfer][cluster]") {
  // Regression: with SimGrid's default lazy network updates (network/optim:Lazy), the second of
  // these flows ended after 0.3 ms instead of 20 ms, as if only the HBM port bounded it. Neither
  // shares a bottleneck with the other (PCIe 64 GB/s vs NIC 50 GB/s; the HBM port is far faster).
  auto doc = config::Document::load_string(R"(
node_types:
  server:
    tiers:
      - {name: gpu0.hbm, kind: hbm, capacity: 80 GB, bandwidth: 3.35 TB/s}
      - {name: host.dram, kind: dram, capacity: 2 TB, bandwidth: 614.4 GB/s, latency: 100 ns}
      - {name: cxl0, kind: cxl, capacity: 256 GB, bandwidth: 36 GB/s, latency: 100 ns}
    switches: [sw]
    links:
      - {name: pcie_gpu0, kind: pcie, between: [gpu0.hbm, sw], bandwidth: 64 GB/s, latency: 1 us}
      - {name: uplink, kind: pcie, between: [sw, host.dram], bandwidth: 64 GB/s, latency: 1 us}
      - {name: cxl_link, kind: pcie, between: [host.dram, cxl0], bandwidth: 31.5 GB/s}
    nics:
      - {name: nic0, attach: gpu0.hbm, bandwidth: 400 Gbps, latency: 1 us, kind: ib}
  store:
    tiers:
      - {name: host.dram, kind: dram, capacity: 2 TB, bandwidth: 614.4 GB/s, latency: 100 ns}
    links: []
    nics:
      - {name: nic0, attach: host.dram, bandwidth: 400 Gbps, latency: 1 us, kind: ib}
nodes:
  - {name: g, type: server}
  - {name: kv, type: store}
fabric: {kind: fat_tree, nodes_per_leaf: 2, uplink_bandwidth: 3200 Gbps, latency: 1 us}
)",
                                           "cluster.yaml");
  const hw::Cluster platform = hw::parse_cluster(doc.root());
  const std::vector<sim::Flow> flows = {{"g/gpu0.hbm", "g/cxl0", kGB}, {"g/gpu0.hbm", "kv/host.dram", kGB}};
  const auto results = sim::run_flows(platform, flows);  // one engine per process: one run
  for (const auto& r : results) CHECK(r.seconds == Approx(r.idle_seconds).epsilon(1e-9));
  CHECK(results[0].idle_seconds == Approx(kGB / 31.5e9 + 2e-6 + 100e-9).epsilon(1e-9));  // two PCIe hops, the CXL port
  CHECK(results[1].idle_seconds == Approx(kGB / 50e9 + 2e-6 + 100e-9).epsilon(1e-9));  // two NICs, the DRAM port
}
