// The host side of an offloaded optimizer, analytic: where the states go over DRAM and CXL under
// each placement, and the CPU Adam's time from its bytes and FLOPs (Liaw & Chen 2025 measure naive
// CXL placement slowing the optimizer step about 4x, and a DRAM-first allocator recovering 97-99% of
// DRAM-only throughput).
#include <catch2/catch.hpp>

#include "sim/core/error.hpp"
#include "sim/training/optimizer_offload.hpp"

using namespace hetsim::training;

namespace {

// hgx-h100-cxl.yaml: 614.4 GB/s of DRAM, four 36 GB/s expanders.
const HostMemory kCxlNode{614.4e9, 4 * 36e9, 4};
const HostMemory kDramOnly{614.4e9, 0, 0};
const HostCpu kCpu{2 * 7.2e12, 0.2, 0.7};

}  // namespace

TEST_CASE("offload placement: DRAM first keeps everything in DRAM while it fits, then spills the rest",
          "[training][offload]") {
  CHECK(cxl_share(HostPlacement::dram_first, 100, 200, kCxlNode) == 0);
  CHECK(cxl_share(HostPlacement::dram_first, 100, 60, kCxlNode) == Approx(0.4));
  CHECK(cxl_share(HostPlacement::dram_first, 100, -5, kCxlNode) == 1);
  // Without CXL, states beyond DRAM are an error, not a silent overcommit.
  CHECK(cxl_share(HostPlacement::dram_first, 100, 200, kDramOnly) == 0);
  CHECK_THROWS_AS(cxl_share(HostPlacement::dram_first, 100, 60, kDramOnly), hetsim::InputError);
}

TEST_CASE("offload placement: interleaving spreads pages evenly, bandwidth-aware by bandwidth, never past DRAM",
          "[training][offload]") {
  CHECK(cxl_share(HostPlacement::interleave, 100, 1000, kCxlNode) == Approx(4.0 / 5));
  const double by_bandwidth = 144e9 / (144e9 + 614.4e9);
  CHECK(cxl_share(HostPlacement::bandwidth_aware, 100, 1000, kCxlNode) == Approx(by_bandwidth));
  CHECK(cxl_share(HostPlacement::bandwidth_aware, 100, 50, kCxlNode) == Approx(0.5));  // DRAM full first
  CHECK(cxl_share(HostPlacement::interleave, 100, 1000, kDramOnly) == 0);  // no expander, nothing to spread to
}

TEST_CASE("offload CPU Adam: memory-bound at the DRAM rate, slower with states in CXL, faster spread by bandwidth",
          "[training][offload]") {
  const double n = 1e9;
  // 4 B gradient + 2 B weight + 24 B of states touched per parameter, at 70% of DRAM bandwidth.
  const double dram_only = cpu_adam_seconds(n, 2, kCpu, kCxlNode, 0);
  CHECK(dram_only == Approx(30 * n / (614.4e9 * 0.7)));
  CHECK(dram_only > 12 * n / (2 * 7.2e12 * 0.2));  // not compute-bound
  const double interleaved = cpu_adam_seconds(n, 2, kCpu, kCxlNode, cxl_share(HostPlacement::interleave, 1, 1e12, kCxlNode));
  CHECK(interleaved == Approx(24 * 0.8 * n / (144e9 * 0.7)));
  CHECK(interleaved > 2.5 * dram_only);  // the naive-placement slowdown
  const double weighted =
      cpu_adam_seconds(n, 2, kCpu, kCxlNode, cxl_share(HostPlacement::bandwidth_aware, 1, 1e12, kCxlNode));
  CHECK(weighted < dram_only);  // the expanders add bandwidth
  CHECK(cpu_adam_seconds(0, 2, kCpu, kCxlNode, 0) == 0);
  CHECK_THROWS_AS(cpu_adam_seconds(n, 2, kCpu, kDramOnly, 0.5), hetsim::InputError);
}
