#include <catch2/catch.hpp>

#include <algorithm>

#include "catalog_entries.hpp"
#include "hw/node.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/core/catalog.hpp"

using namespace hetsim;

TEST_CASE("hw catalog: every entry loads and is physically sane", "[hw][catalog]") {
  const auto names = catalog::names("hw/catalog");
  REQUIRE(names.size() >= 2);
  for (const auto& name : names) {
    INFO(name);
    const hw::Device d = test::catalog_device(name);
    CHECK(d.name == name);
    // Every entry but a desktop CPU has a 16-bit float peak (HBM-PIM computes in FP16 only), and
    // matrix units (tensor cores, AMX, MXUs) beat plain FP32 wherever both are given. A CPU without
    // 16-bit arithmetic (Coffee Lake: F16C only converts) still has integer dot products above FP32.
    const double half = std::max(d.peak(DType::bf16), d.peak(DType::fp16));
    if (d.kind == hw::DeviceKind::storage) {  // a drive runs nothing
      for (OpClass c : kOpClasses) CHECK_FALSE(d.can_run(c));
    } else if (d.kind == hw::DeviceKind::cpu && half == 0) {
      CHECK(d.peak(DType::int8) > d.peak(DType::fp32));
    } else {
      CHECK(half > 0);
    }
    if (d.peak(DType::fp32) > 0 && half > 0) CHECK(d.peak(DType::fp32) < half);
    CHECK(d.memory().capacity > 0);
    // HBM bandwidth of any current part is below 10 TB/s; links below HBM.
    CHECK(d.memory().read_bandwidth > 0);
    CHECK(d.memory().read_bandwidth < 10e12);
    CHECK(d.scale_up.bandwidth < d.memory().read_bandwidth);
    // Host paths within their interface's limits: PCIe Gen6 x16 moves 128 GB/s per direction,
    // NVLink-C2C 450 GB/s; an SoC's engines share one memory and cannot beat it.
    if (d.host.kind == "pcie") CHECK(d.host.bandwidth <= 128e9);
    if (d.host.kind == "nvlink-c2c") CHECK(d.host.bandwidth <= 450e9);
    if (d.host.kind == "shared-memory") CHECK(d.host.bandwidth <= d.memory().read_bandwidth);
    // A PIM device is reached over its own memory interface, which is its external bandwidth.
    if (d.host.kind == "memory-bus") CHECK(d.host.bandwidth <= d.memory().read_bandwidth);
    if (d.kind == hw::DeviceKind::pim) {  // PIM units see the memory faster than its interface
      REQUIRE(d.find_tier(hw::TierKind::pim));
      CHECK(d.tiers[*d.find_tier(hw::TierKind::pim)].read_bandwidth > d.memory().read_bandwidth);
    }
    if (d.kind == hw::DeviceKind::npu) {
      REQUIRE(d.find_tier(hw::TierKind::sram));
      const hw::MemoryTier& sram = d.tiers[*d.find_tier(hw::TierKind::sram)];
      CHECK(sram.capacity > 0);
      CHECK(sram.read_bandwidth > d.memory().read_bandwidth);  // on-chip SRAM outruns HBM
    }
    for (const auto& e : d.efficiency) {
      CHECK(e.compute > 0);
      CHECK(e.compute <= 1);
      CHECK(e.memory > 0);
      CHECK(e.memory <= 1);
    }
  }
}

TEST_CASE("hw catalog: datasheet figures of H100 and A100", "[hw][catalog]") {
  const auto h100 = test::catalog_device("h100-sxm5-80gb");
  CHECK(h100.peak(DType::bf16) == Approx(989.4e12));
  CHECK(h100.peak(DType::fp8) == Approx(1978.9e12));
  CHECK(h100.memory().read_bandwidth == Approx(3.35e12));
  CHECK(h100.memory().capacity == 80e9);
  CHECK(h100.scale_up.bandwidth == 450e9);
  const auto a100 = test::catalog_device("a100-sxm4-80gb");
  CHECK(a100.peak(DType::bf16) == Approx(312e12));
  CHECK(a100.peak(DType::fp8) == 0);  // Ampere has no FP8 tensor cores
  CHECK(a100.memory().read_bandwidth == Approx(2.039e12));
}

TEST_CASE("hw catalog: datasheet figures of H200, L40S and MI300X", "[hw][catalog]") {
  const auto h200 = test::catalog_device("h200-sxm-141gb");
  CHECK(h200.memory().capacity == 141e9);
  CHECK(h200.memory().read_bandwidth == Approx(4.8e12));
  CHECK(h200.peak(DType::bf16) == test::catalog_device("h100-sxm5-80gb").peak(DType::bf16));  // same GH100 compute
  const auto l40s = test::catalog_device("l40s-48gb");
  CHECK(l40s.peak(DType::bf16) == Approx(362.05e12));
  CHECK(l40s.memory().read_bandwidth == Approx(864e9));
  CHECK(l40s.scale_up.bandwidth == 32e9);  // no NVLink: peers over PCIe Gen4
  const auto mi300x = test::catalog_device("mi300x-192gb");
  CHECK(mi300x.memory().capacity == 192e9);
  CHECK(mi300x.peak(DType::fp8) == Approx(2614.9e12));
  CHECK(mi300x.peak(DType::bf16) == Approx(1307.4e12));
}

TEST_CASE("hw catalog: malformed device YAML names the key path", "[hw][catalog]") {
  auto bad = config::Document::load_string(
      "device:\n  preset: h100-sxm5-80gb\n  memory:\n    bandwidth: -3 TB/s\n", "bad.yaml");
  auto layered = catalog::with_preset(bad.root(), "device", "hw/catalog");
  REQUIRE_THROWS_WITH(hw::parse_device(layered.node), Catch::Contains("bad.yaml:4: device.memory.bandwidth = -3 TB/s"));
  auto ceiling = config::Document::load_string(
      "device:\n  preset: h100-sxm5-80gb\n  gemm_dtype_ceiling: {fp8: 1.5}\n", "bad.yaml");
  auto over = catalog::with_preset(ceiling.root(), "device", "hw/catalog");
  REQUIRE_THROWS_WITH(hw::parse_device(over.node), Catch::Contains("bad.yaml:3: device.gemm_dtype_ceiling.fp8 = 1.5"));
  auto unknown = config::Document::load_string("device: h100-sxm5-80gbx\n", "bad.yaml");
  REQUIRE_THROWS_WITH(catalog::with_preset(unknown.root(), "device", "hw/catalog"),
                      Catch::Contains("device = \"h100-sxm5-80gbx\"") && Catch::Contains("did you mean 'h100-sxm5-80gb'"));
}

TEST_CASE("hw nodes: every node loads, its values are sane and every device slot reaches its DRAM", "[hw][catalog][nodes]") {
  const auto names = catalog::names("hw/nodes");
  REQUIRE(names.size() >= 2);
  for (const auto& name : names) {
    INFO(name);
    auto scenario = config::Document::load_string("node: " + name + "\n", "inline.yaml");
    auto layered = catalog::with_preset(scenario.root(), "node", "hw/nodes");
    const hw::NodeSpec node = hw::parse_node(layered.node);
    layered.preset.check_unknown_keys();
    CHECK(node.name == name);
    const std::string dram = node.first_dram_tier();
    if (node.device_slots.empty()) {
      // A node without devices is a KV store (cluster.kv_stores: DRAM) or a storage server
      // (cluster.storage: a block device), reached only through its NICs.
      REQUIRE_FALSE(node.nics.empty());
      const bool block = std::any_of(node.topology.tiers.begin(), node.topology.tiers.end(),
                                     [](const hw::MemoryTier& t) { return t.is_block_device(); });
      CHECK((!dram.empty() || block));
    } else {
      REQUIRE_FALSE(dram.empty());
    }
    for (const auto& t : node.topology.tiers) {
      CHECK(t.capacity > 0);
      CHECK(t.read_bandwidth > 0);
      CHECK(t.read_bandwidth < 10e12);
    }
    for (const auto& l : node.topology.links) {
      INFO(l.name);
      CHECK(l.bandwidth > 0);
      if (l.kind == "pcie") CHECK(l.bandwidth <= 128e9);  // PCIe Gen6 x16 per direction
      if (l.kind == "nvlink-c2c") CHECK(l.bandwidth <= 450e9);
    }
    for (const auto& slot : node.device_slots) CHECK_FALSE(node.topology.route(slot, dram).empty());
  }
}

TEST_CASE("hw nodes: malformed node YAML names the key path", "[hw][catalog][nodes]") {
  auto bad = config::Document::load_string(
      "node:\n  tiers:\n    - {name: gpu0.hbm, kind: hbm, capacity: 80 GB, bandwidth: 3 TB/s}\n"
      "  links:\n    - {name: l0, kind: pcie, between: [gpu0.hbm, dram0], bandwidth: 64 GB/s}\n", "bad.yaml");
  REQUIRE_THROWS_WITH(hw::parse_node(bad.root().child("node")),
                      Catch::Contains("bad.yaml:5: node.links[0].between = dram0") && Catch::Contains("tier or switch"));
}

TEST_CASE("hw nodes: a node without devices is a KV store, not a place for replicas", "[hw][catalog][nodes]") {
  auto no_hbm = config::Document::load_string(
      "node:\n  name: memnode\n  tiers:\n    - {name: host.dram, kind: dram, capacity: 1 TB, bandwidth: 300 GB/s}\n  links: []\n",
      "mem.yaml");
  const hw::NodeSpec node = hw::parse_node(no_hbm.root().child("node"));
  CHECK(node.device_slots.empty());
  CHECK(node.first_dram_tier() == "host.dram");
  REQUIRE_THROWS_WITH(sim::load_node(no_hbm.root()), Catch::Contains("mem.yaml") && Catch::Contains("node = memnode") &&
                                                       Catch::Contains("no tier of kind hbm") && Catch::Contains("kv_stores"));
  CHECK(sim::load_node(no_hbm.root(), false)->device_slots.empty());
}
