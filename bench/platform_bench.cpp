// Benchmark of platform setup (not a test): N hgx-h100 nodes (8 GPUs, 8 ConnectX-7 each, from
// hw/nodes) joined by a rail or fat-tree fabric, built as one SimGrid network the way a serving run
// builds it; then a cross-node transfer between the first and last node and one per node pair
// (i, i+1) at once. Reports setup seconds, SimGrid objects and peak RSS.
//
//   build/hetsim_platform_bench [NODES] [rail|fat_tree]
#include <fmt/format.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "sim/core/catalog.hpp"
#include "sim/core/error.hpp"
#include "sim/engine/simgrid_setup.hpp"
#include "sim/engine/transfer_network.hpp"
#include "hw/node.hpp"

int main(int argc, char** argv) {
  using namespace hetsim;
  namespace sg = simgrid::s4u;
  const int nodes = argc > 1 ? std::atoi(argv[1]) : 1000;
  const std::string kind = argc > 2 ? argv[2] : "rail";
  if (nodes < 2 || (kind != "rail" && kind != "fat_tree")) {
    fmt::print(stderr, "usage: hetsim_platform_bench [NODES>=2] [rail|fat_tree]\n");
    return 2;
  }
  try {
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    auto doc = catalog::load("hw/nodes", "hgx-h100", config::Document::load_string("node: x\n", "bench").root(), "node");
    auto spec = std::make_shared<const hw::NodeSpec>(hw::parse_node(doc.root()));
    hw::Cluster cluster;
    cluster.fabric = hw::Fabric{kind, 16, 400e9 / 8 * 8, 1e-6};  // 16 nodes per leaf; 3.2 Tb/s uplinks
    for (int i = 0; i < nodes; ++i)
      cluster.nodes.push_back({fmt::format("node{}/", i), std::shared_ptr<const hw::NodeTopology>(spec, &spec->topology),
                               std::shared_ptr<const std::vector<hw::Nic>>(spec, &spec->nics)});
    auto engine = sim::make_simgrid_engine();
    const auto t1 = clock::now();
    auto* root = sg::create_star_zone("cluster");
    sg::Host* driver = root->create_host("driver", 1e9);
    sim::TransferNetwork net(std::move(cluster), root);
    root->seal();
    const auto t2 = clock::now();
    double first = 0, all = 0;
    sg::Actor::create("driver", driver, [&] {
      first = net.move("node0/gpu3.hbm", fmt::format("node{}/gpu3.hbm", nodes - 1), 1e9);
      const double s = sg::Engine::get_clock();
      std::vector<sim::TransferNetwork::Transfer> flows;
      for (int i = 0; i + 1 < nodes; ++i)
        flows.push_back(net.start(fmt::format("node{}/gpu{}.hbm", i, i % 8), fmt::format("node{}/gpu{}.hbm", i + 1, i % 8), 1e9));
      for (auto& f : flows) f.wait();
      all = sg::Engine::get_clock() - s;
    });
    engine->run();
    const auto t3 = clock::now();
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const auto c = net.counts();
    auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
    fmt::print("hetsim_platform_bench: {} x hgx-h100 ({} GPUs), {} fabric\n", nodes, 8 * nodes, kind);
    fmt::print("  describe nodes     {:.3f} s\n", secs(t0, t1));
    fmt::print("  build platform     {:.3f} s ({} hosts, {} links, {} disks)\n", secs(t1, t2), c.hosts, c.links, c.disks);
    fmt::print("  {} transfers      {:.3f} s wall, {} routes resolved; simulated {:.4f} s (first alone {:.4f} s)\n",
               nodes, secs(t2, t3), c.routes, all, first);
    fmt::print("  peak RSS           {:.1f} MB\n", static_cast<double>(usage.ru_maxrss) / 1024.0);
  } catch (const InputError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
  return 0;
}
