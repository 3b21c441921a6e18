// Transfers over a node topology on SimGrid. One simulation per TEST_CASE (one engine per process).
#include <catch2/catch.hpp>

#include <functional>

#include "hw/node.hpp"
#include "hw/topology.hpp"
#include "sim/core/catalog.hpp"
#include "sim/engine/simgrid_setup.hpp"
#include "sim/engine/transfer_network.hpp"
#include "sim/engine/simulate_transfers.hpp"

using namespace hetsim;
namespace sg = simgrid::s4u;

namespace {

// Figures are illustrative test values, not a catalog entry.
const char* kNode = R"(
tiers:
  - {name: gpu0.hbm, kind: hbm, capacity: 80 GB, bandwidth: 3.35 TB/s}
  - {name: gpu1.hbm, kind: hbm, capacity: 80 GB, bandwidth: 3.35 TB/s}
  - {name: host.dram, kind: dram, capacity: 1 TB, bandwidth: 300 GB/s, latency: 100 ns}
  - {name: cxl0, kind: cxl, capacity: 256 GB, bandwidth: 32 GB/s, latency: 250 ns}
  - {name: nvme0, kind: ssd, capacity: 7.68 TB, read_bandwidth: 13 GB/s, write_bandwidth: 6.6 GB/s,
     read_iops: 2500000, request_half: 64 KiB}
  - {name: csd0, kind: csd, capacity: 4 TB, read_bandwidth: 40 GB/s, write_bandwidth: 6 GB/s}
  - {name: bucket, kind: remote, capacity: 1 PB, bandwidth: 100 GB/s, latency: 50 us}
switches: [cpu]
links:
  - {name: pcie0, kind: pcie, between: [gpu0.hbm, cpu], bandwidth: 64 GB/s, latency: 1 us}
  - {name: pcie1, kind: pcie, between: [gpu1.hbm, cpu], bandwidth: 64 GB/s, latency: 1 us}
  - {name: membus, kind: ddr, between: [cpu, host.dram], bandwidth: 300 GB/s}
  - {name: cxl, kind: cxl, between: [cpu, cxl0], bandwidth: 64 GB/s, latency: 200 ns}
  - {name: pcie_ssd, kind: pcie, between: [cpu, nvme0], bandwidth: 15.75 GB/s, latency: 2 us}
  - {name: nvlink, kind: nvlink, between: [gpu0.hbm, gpu1.hbm], bandwidth: 450 GB/s, latency: 2 us}
  - {name: pcie_csd, kind: pcie, between: [cpu, csd0], bandwidth: 8 GB/s, latency: 2 us}
  - {name: nic0, kind: ethernet, between: [cpu, bucket], bandwidth: 25 GB/s, latency: 5 us}
)";

/// Builds the node, runs `body` in an actor, runs the simulation.
void simulate(const std::function<void(sim::TransferNetwork&)>& body) {
  auto doc = config::Document::load_string(kNode, "node.yaml");
  const hw::NodeTopology topo = hw::parse_topology(doc.root());
  doc.check_unknown_keys();
  test::simulate_transfers(topo, "host.dram", body);
}

constexpr double kGB = 1e9;

}  // namespace

TEST_CASE("transfers: an idle transfer takes bytes / bottleneck bandwidth + the route's latencies", "[engine][transfer]") {
  double to_dram = 0, peer = 0, to_cxl = 0, back = 0;
  simulate([&](sim::TransferNetwork& net) {
    to_dram = net.move("gpu0.hbm", "host.dram", kGB);
    peer = net.move("gpu0.hbm", "gpu1.hbm", kGB);
    to_cxl = net.move("gpu0.hbm", "cxl0", kGB);
    back = net.move("host.dram", "gpu0.hbm", kGB);
  });
  // HBM -> PCIe (64 GB/s, 1 us) -> CPU -> memory bus -> DRAM port (100 ns).
  CHECK(to_dram == Approx(kGB / 64e9 + 1e-6 + 100e-9).epsilon(1e-6));
  // Direct NVLink (one hop) wins over the two PCIe hops.
  CHECK(peer == Approx(kGB / 450e9 + 2e-6).epsilon(1e-6));
  // The CXL expander's own 32 GB/s is the bottleneck; latencies add up (1 us + 200 ns + 250 ns).
  CHECK(to_cxl == Approx(kGB / 32e9 + 1.45e-6).epsilon(1e-6));
  // The other direction of the split-duplex links: same time.
  CHECK(back == Approx(to_dram).epsilon(1e-6));
}

TEST_CASE("transfers: two transfers on one link share it, on disjoint routes they do not", "[engine][transfer]") {
  double alone = 0, shared_a = 0, shared_b = 0, disjoint_a = 0, disjoint_b = 0;
  simulate([&](sim::TransferNetwork& net) {
    alone = net.move("gpu0.hbm", "host.dram", kGB);
    double t0 = sg::Engine::get_clock();
    auto a = net.start("gpu0.hbm", "host.dram", kGB);
    auto b = net.start("gpu0.hbm", "host.dram", kGB);
    a.wait();
    shared_a = sg::Engine::get_clock() - t0;
    b.wait();
    shared_b = sg::Engine::get_clock() - t0;
    t0 = sg::Engine::get_clock();
    auto c = net.start("gpu0.hbm", "host.dram", kGB);
    auto d = net.start("gpu1.hbm", "host.dram", kGB);  // its own PCIe link; the 300 GB/s bus carries both
    c.wait();
    disjoint_a = sg::Engine::get_clock() - t0;
    d.wait();
    disjoint_b = sg::Engine::get_clock() - t0;
  });
  const double latency = 1.1e-6;
  CHECK(shared_a == Approx(2 * (alone - latency) + latency).epsilon(1e-6));
  CHECK(shared_b == Approx(shared_a).epsilon(1e-6));
  CHECK(disjoint_a == Approx(alone).epsilon(1e-6));
  CHECK(disjoint_b == Approx(alone).epsilon(1e-6));
}

TEST_CASE("transfers: flash reads in small requests are slower than the same bytes in large ones", "[engine][transfer]") {
  double small = 0, large = 0, write = 0;
  simulate([&](sim::TransferNetwork& net) {
    small = net.move("nvme0", "host.dram", kGB, 4096);
    large = net.move("nvme0", "host.dram", kGB, 1 << 20);
    write = net.move("host.dram", "nvme0", kGB, 1 << 20);
  });
  // 4 KiB: 13 GB/s * 4096 / (4096 + 65536) = 0.765 GB/s (below the 2.5 M IOPS * 4 KiB = 10.2 GB/s cap).
  CHECK(small == Approx(kGB / (13e9 * 4096 / (4096 + 65536.0))).epsilon(1e-6));
  // 1 MiB: 12.2 GB/s from the SSD, under the 15.75 GB/s PCIe link, so the disk is the bottleneck.
  CHECK(large == Approx(kGB / (13e9 * 1048576 / (1048576 + 65536.0))).epsilon(1e-6));
  CHECK(small > 10 * large);
  // Writes run at the write bandwidth.
  CHECK(write == Approx(kGB / (6.6e9 * 1048576 / (1048576 + 65536.0))).epsilon(1e-6));
}

TEST_CASE("topology: malformed node YAML names the key path, unreachable tiers are reported", "[hw][topology]") {
  auto bad = config::Document::load_string(
      "tiers:\n  - {name: a, kind: hbm, capacity: 1 GB, bandwidth: 1 TB/s}\n  - {name: b, kind: tape, capacity: 1 GB, bandwidth: 1 GB/s}\n"
      "links: []\n",
      "node.yaml");
  REQUIRE_THROWS_WITH(hw::parse_topology(bad.root()), Catch::Contains("node.yaml:3: tiers[1].kind = tape"));
  auto link = config::Document::load_string(
      "tiers:\n  - {name: a, kind: hbm, capacity: 1 GB, bandwidth: 1 TB/s}\nlinks:\n  - {name: l, kind: pcie, between: [a, z], bandwidth: 1 GB/s}\n",
      "node.yaml");
  REQUIRE_THROWS_WITH(hw::parse_topology(link.root()), Catch::Contains("links[0].between = z"));
  auto island = config::Document::load_string(
      "tiers:\n  - {name: a, kind: hbm, capacity: 1 GB, bandwidth: 1 TB/s}\n  - {name: b, kind: dram, capacity: 1 GB, bandwidth: 1 TB/s}\nlinks: []\n",
      "node.yaml");
  const auto topo = hw::parse_topology(island.root());
  REQUIRE_THROWS_WITH(topo.route("a", "b"), Catch::Contains("no route from 'a' to 'b'"));
}

TEST_CASE("transfers: computational storage scans inside at its internal bandwidth, its link caps what leaves",
          "[engine][transfer]") {
  double out = 0, scan = 0;
  simulate([&](sim::TransferNetwork& net) {
    out = net.move("csd0", "host.dram", 8 * kGB);
    const double t0 = sg::Engine::get_clock();
    net.read_in_place("csd0", 8 * kGB)->wait();
    scan = sg::Engine::get_clock() - t0;
  });
  // Out of the drive: its 8 GB/s PCIe link binds (the 40 GB/s flash read runs alongside).
  CHECK(out == Approx(8 * kGB / 8e9 + 2e-6 + 100e-9).epsilon(1e-6));
  // In place: the internal 40 GB/s, 5x faster than moving the bytes out.
  CHECK(scan == Approx(8 * kGB / 40e9).epsilon(1e-6));
}

TEST_CASE("transfers: remote storage is reached over the NIC, which binds", "[engine][transfer]") {
  double fetch = 0;
  simulate([&](sim::TransferNetwork& net) { fetch = net.move("bucket", "gpu0.hbm", kGB); });
  // bucket port (100 GB/s, 50 us) -> NIC (25 GB/s, 5 us) -> CPU -> PCIe (64 GB/s, 1 us) -> HBM.
  CHECK(fetch == Approx(kGB / 25e9 + 56e-6).epsilon(1e-6));
}

TEST_CASE("topology: GPU copies take NVLink over an equally short PCIe path, and never cross another GPU",
          "[hw][topology]") {
  auto doc = config::Document::load_string("node: hgx-h100\n", "scenario");
  auto layered = catalog::with_preset(doc.root(), "node", "hw/nodes");
  const auto topo = hw::parse_node(layered.node).topology;
  auto names = [&](const std::string& from, const std::string& to) {
    std::vector<std::string> out;
    for (auto [link, forward] : topo.route(from, to)) out.push_back(topo.links[link].name);
    return out;
  };
  // gpu0 and gpu1 share a PCIe switch: two hops either way; NVLink moves a MiB far sooner.
  CHECK(names("gpu0.hbm", "gpu1.hbm") == std::vector<std::string>{"nvlink_gpu0", "nvlink_gpu1"});
  // An NVMe on another PCIe switch: four hops over PCIe and host memory, or four through a peer
  // GPU's NVLink and PCIe links; GPUs do not forward traffic, so only the first is a route.
  CHECK(names("gpu0.hbm", "nvme2") == std::vector<std::string>{"pcie_gpu0", "uplink0", "uplink2", "pcie_nvme2"});
}
