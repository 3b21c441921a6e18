#pragma once
// A cluster of nodes that hold one H100 each, one 400 Gb/s NIC per node on one rail (1 us per hop):
// a data-parallel ring over two of them has its two flows going opposite ways on split-duplex
// links, so nothing contends and it takes its alpha-beta time, 2 x 1 us + (2(k-1)/k) N / 400 Gb/s.
namespace hetsim::test {

constexpr const char* kOneGpuNodes = R"(
cluster:
  device: h100-sxm5-80gb
  node:
    name: one
    tiers: [{name: gpu0.hbm, kind: hbm, capacity: 80 GB, bandwidth: 3.35 TB/s}]
    links: []
    nics: [{name: nic0, kind: ib, attach: gpu0.hbm, bandwidth: 400 Gbps, latency: 1 us}]
  fabric: {kind: rail, uplink_bandwidth: 800 Gbps, latency: 1 us}
)";
/// Its per-hop latency and NIC bandwidth (bytes/s).
constexpr double kOneGpuNodesAlpha = 1e-6, kOneGpuNodesBandwidth = 400e9 / 8;

}  // namespace hetsim::test
