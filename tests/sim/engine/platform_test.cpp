// One platform network per run: node instances of a scenario joined by cluster.fabric, routed on
// demand. One simulation per TEST_CASE (one SimGrid engine per process).
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <chrono>

#include "sim/core/error.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/engine/simgrid_setup.hpp"
#include "sim/engine/transfer_network.hpp"

using namespace hetsim;
namespace sg = simgrid::s4u;

namespace {

constexpr double kGB = 1e9;
// hw/nodes/hgx-h100.yaml: HBM 3.35 TB/s (port latency 0), NVLink 450 GB/s (2 us), ConnectX-7
// 400 Gb/s = 50 GB/s (1 us). Fabric uplinks below: 800 Gb/s = 100 GB/s, 1 us.
constexpr double kNic = 50e9, kNicLatency = 1e-6, kNvlinkLatency = 2e-6, kUplinkLatency = 1e-6;

/// A scenario of `nodes` hgx-h100 nodes (8 TP1 replicas each) joined by `fabric`.
sim::Scenario scenario(int nodes, const std::string& fabric) {
  const std::string text = fmt::format(R"(
model: llama-3-8b
cluster:
  device: h100-sxm5-80gb
  node: hgx-h100
  replicas: {}
  fabric: {}
workload: {{source: synthetic, num_requests: 1, arrival: {{process: poisson, rate: 1}},
            prompt_tokens: {{dist: uniform, min: 10, max: 20}}, output_tokens: {{dist: uniform, min: 1, max: 2}}}}
)",
                                       8 * nodes, fabric);
  auto doc = config::Document::load_string(text, "platform.yaml");
  return sim::load_scenario(doc);
}

const char* kRail = "{kind: rail, uplink_bandwidth: 800 Gbps, latency: 1 us}";
const char* kFatTree = "{kind: fat_tree, nodes_per_leaf: 1, uplink_bandwidth: 800 Gbps, latency: 1 us}";

/// Builds the run's platform as run_serving does and runs `body` in an actor.
void simulate(const sim::Scenario& sc, const std::function<void(sim::TransferNetwork&)>& body) {
  auto engine = sim::make_simgrid_engine();
  auto* zone = sg::create_star_zone("cluster");
  sg::Host* driver = zone->create_host("driver", 1e9);
  sim::TransferNetwork net(sim::platform_of(sc), zone);
  zone->seal();
  sg::Actor::create("driver", driver, [&] { body(net); });
  engine->run();
}

}  // namespace

TEST_CASE("platform: a cross-node transfer takes bytes / bottleneck + the route's latencies", "[engine][platform]") {
  const auto sc = scenario(4, kRail);
  REQUIRE(sc.nodes.size() == 4);
  REQUIRE(sc.nodes[3].prefix == "pool0.node3/");
  double same_rail = 0, other_rail = 0;
  std::vector<std::string> route;
  simulate(sc, [&](sim::TransferNetwork& net) {
    same_rail = net.move("pool0.node0/gpu2.hbm", "pool0.node3/gpu2.hbm", kGB);
    other_rail = net.move("pool0.node0/gpu2.hbm", "pool0.node3/gpu5.hbm", kGB);
    for (const auto& hop : net.router().route("pool0.node0/gpu2.hbm", "pool0.node3/gpu5.hbm"))
      route.push_back(net.router().link(hop).name);
  });
  // gpu2 -> nic2 -> rail2 -> nic2 -> gpu2: the NIC (50 GB/s) binds; two NIC latencies.
  CHECK(same_rail == Approx(kGB / kNic + 2 * kNicLatency).epsilon(1e-9));
  // To GPU 5 of the other node: out on rail 2, in on rail 2, then NVLink (2 + 2 us) inside node 3
  // ties in hops with crossing the spine (rail2 -> spine -> rail5), and the spine (1 + 1 us) wins.
  CHECK(other_rail == Approx(kGB / kNic + 2 * kNicLatency + 2 * kUplinkLatency).epsilon(1e-9));
  CHECK(route == std::vector<std::string>{"pool0.node0/nic2", "rail2-spine", "rail5-spine", "pool0.node3/nic5"});
  (void)kNvlinkLatency;
}

TEST_CASE("platform: transfers inside a node keep the node's own routes", "[engine][platform]") {
  const auto sc = scenario(2, kFatTree);
  double peer = 0, to_host = 0;
  simulate(sc, [&](sim::TransferNetwork& net) {
    peer = net.move("pool0.node1/gpu3.hbm", "pool0.node1/gpu4.hbm", kGB);
    to_host = net.move("pool0.node1/gpu0.hbm", "pool0.node1/host.dram", kGB);
  });
  // NVLink through NVSwitch, not the fat tree's leaf (two NIC hops would tie in hops but not latency).
  CHECK(peer == Approx(kGB / 450e9 + 2 * kNvlinkLatency).epsilon(1e-9));
  // PCIe to host DRAM as on a lone node: 64 GB/s, 2 x 1 us + 100 ns DRAM port.
  CHECK(to_host == Approx(kGB / 64e9 + 2e-6 + 100e-9).epsilon(1e-9));
}

TEST_CASE("platform: two flows into one NIC share it, flows on different rails do not", "[engine][platform]") {
  const auto sc = scenario(3, kRail);
  double shared = 0, separate = 0, alone = 0;
  simulate(sc, [&](sim::TransferNetwork& net) {
    alone = net.move("pool0.node0/gpu1.hbm", "pool0.node2/gpu1.hbm", kGB);
    double t0 = sg::Engine::get_clock();
    auto x = net.start("pool0.node0/gpu1.hbm", "pool0.node2/gpu1.hbm", kGB);
    auto y = net.start("pool0.node1/gpu1.hbm", "pool0.node2/gpu1.hbm", kGB);  // both land on node 2's nic1
    x.wait();
    y.wait();
    shared = sg::Engine::get_clock() - t0;
    t0 = sg::Engine::get_clock();
    auto p = net.start("pool0.node0/gpu1.hbm", "pool0.node2/gpu1.hbm", kGB);  // rail 1
    auto q = net.start("pool0.node1/gpu6.hbm", "pool0.node2/gpu6.hbm", kGB);  // rail 6
    p.wait();
    q.wait();
    separate = sg::Engine::get_clock() - t0;
  });
  CHECK(alone == Approx(kGB / kNic + 2 * kNicLatency).epsilon(1e-9));
  CHECK(shared == Approx(2 * kGB / kNic + 2 * kNicLatency).epsilon(1e-9));
  CHECK(separate == Approx(alone).epsilon(1e-9));
}

TEST_CASE("platform: an unreachable pair fails when a transfer is tried, naming both tiers", "[engine][platform]") {
  // No fabric: setup succeeds, nodes are islands.
  auto doc = config::Document::load_string(R"(
model: llama-3-8b
cluster: {device: h100-sxm5-80gb, node: hgx-h100, replicas: 16}
workload: {source: synthetic, num_requests: 1, arrival: {process: poisson, rate: 1},
           prompt_tokens: {dist: uniform, min: 10, max: 20}, output_tokens: {dist: uniform, min: 1, max: 2}}
)",
                                           "islands.yaml");
  const auto sc = sim::load_scenario(doc);
  REQUIRE(sc.nodes.size() == 2);
  std::string error;
  double inside = 0;
  simulate(sc, [&](sim::TransferNetwork& net) {
    inside = net.move("pool0.node1/gpu0.hbm", "pool0.node1/host.dram", kGB);
    try {
      net.start("pool0.node0/gpu0.hbm", "pool0.node1/gpu2.hbm", kGB);
    } catch (const InputError& e) {
      error = e.what();
    }
  });
  CHECK(inside > 0);
  CHECK_THAT(error, Catch::Contains("no route from 'pool0.node0/gpu0.hbm' to 'pool0.node1/gpu2.hbm'") &&
                        Catch::Contains("no cluster fabric"));
}

TEST_CASE("platform: setup is linear in the number of nodes", "[engine][platform][scale]") {
  // 64 and 512 eight-GPU nodes in one engine (names stay unique: two platforms, two prefixes).
  auto engine = sim::make_simgrid_engine();
  auto* root = sg::create_star_zone("root");
  auto build = [&](int nodes, const std::string& name) {
    hw::Cluster c = sim::platform_of(scenario(1, kRail));
    const hw::ClusterNode one = c.nodes.at(0);
    c.nodes.clear();
    for (int i = 0; i < nodes; ++i) c.nodes.push_back({fmt::format("{}.node{}/", name, i), one.topology, one.nics});
    const auto t0 = std::chrono::steady_clock::now();
    auto net = std::make_unique<sim::TransferNetwork>(std::move(c), root, name);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return std::pair{std::move(net), seconds};
  };
  auto [small, small_s] = build(64, "small");
  auto [large, large_s] = build(512, "large");
  // The best of three builds of each size: a shared machine (ctest -j2, sanitizers) delays single
  // runs at random, and the minimum is what the code itself costs.
  std::vector<std::unique_ptr<sim::TransferNetwork>> repeats;
  for (int r = 1; r < 3; ++r) {
    auto [s, s_s] = build(64, fmt::format("small{}", r));
    auto [l, l_s] = build(512, fmt::format("large{}", r));
    small_s = std::min(small_s, s_s);
    large_s = std::min(large_s, l_s);
    repeats.push_back(std::move(s));
    repeats.push_back(std::move(l));
  }
  root->seal();
  const auto a = small->counts(), b = large->counts();
  // Hosts, links and disks grow exactly with the nodes (the fabric adds one uplink per rail), and no
  // route exists before a transfer asks for one.
  CHECK(b.hosts == 8 * a.hosts);
  CHECK(b.disks == 8 * a.disks);
  CHECK(b.links - 2 * 8 == 8 * (a.links - 2 * 8));
  CHECK(a.routes == 0);
  CHECK(b.routes == 0);
  // Wall time per node does not grow (generous bound: the machine is shared).
  INFO("64 nodes: " << small_s << " s, 512 nodes: " << large_s << " s");
  CHECK(large_s / 512 < 2.5 * small_s / 64 + 1e-4);
}
