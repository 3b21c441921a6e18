// The alpha-beta collective model against closed forms (Thakur et al. 2005; nccl-tests PERFORMANCE.md).
#include <catch2/catch.hpp>

#include <cmath>

#include "hw/collective_model.hpp"

using namespace hetsim;
using hw::LinkLevel;

namespace {
const LinkLevel kNvlink{450e9, 5e-6, 1.0, 0.0};   // per direction, per-step latency
const LinkLevel kNic{50e9, 10e-6, 1.0, 0.0};      // 400 Gb/s NIC
}  // namespace

TEST_CASE("collectives: ring times are steps x alpha + bus bytes / bandwidth", "[hw][collective]") {
  const double s = 256e6;
  const int k = 8;
  auto ring = [&](Collective c) { return hw::flat_collective(c, CollectiveAlgorithm::ring, s, k, kNvlink); };
  CHECK(ring(Collective::all_reduce).time == Approx(2.0 * 7 * 5e-6 + 2.0 * 7 / 8 * s / 450e9));
  CHECK(ring(Collective::all_gather).time == Approx(7 * 5e-6 + 7.0 / 8 * s / 450e9));
  CHECK(ring(Collective::reduce_scatter).time == Approx(ring(Collective::all_gather).time));
  CHECK(ring(Collective::all_to_all).bus_bytes == Approx(7.0 / 8 * s));
  CHECK(ring(Collective::broadcast).bus_bytes == Approx(s));
  CHECK(ring(Collective::send_recv).time == Approx(5e-6 + s / 450e9));
  // All-reduce = reduce-scatter + all-gather, exactly, for the ring.
  CHECK(ring(Collective::all_reduce).time ==
        Approx(ring(Collective::reduce_scatter).time + ring(Collective::all_gather).time));
  SECTION("one rank moves nothing") { CHECK(hw::flat_collective(Collective::all_reduce, CollectiveAlgorithm::ring, s, 1, kNvlink).time == 0); }
}

TEST_CASE("collectives: the tree wins small messages on many ranks, the ring never loses large ones", "[hw][collective]") {
  const int k = 64;
  const auto small_ring = hw::flat_collective(Collective::all_reduce, CollectiveAlgorithm::ring, 64e3, k, kNic);
  const auto small_tree = hw::flat_collective(Collective::all_reduce, CollectiveAlgorithm::tree, 64e3, k, kNic);
  CHECK(small_tree.steps == 2 * 6);  // 2 * ceil(log2 64)
  CHECK(small_tree.time < small_ring.time);
  const auto fastest = hw::flat_collective(Collective::all_reduce, CollectiveAlgorithm::fastest, 64e3, k, kNic);
  CHECK(fastest.time == Approx(small_tree.time));
  const auto big_ring = hw::flat_collective(Collective::all_reduce, CollectiveAlgorithm::ring, 1e9, 8, kNic);
  const auto big_fast = hw::flat_collective(Collective::all_reduce, CollectiveAlgorithm::fastest, 1e9, 8, kNic);
  CHECK(big_fast.time <= big_ring.time);
}

TEST_CASE("collectives: a group spanning nodes is hierarchical and bound by the NIC", "[hw][collective]") {
  const double s = 1e9;
  // 16 ranks on 2 nodes of 8: reduce-scatter on NVLink, all-reduce of 1/8 across, all-gather on NVLink.
  const double expected = (7 * 5e-6 + 7.0 / 8 * s / 450e9)          // reduce-scatter inside
                          + (2 * 1 * 10e-6 + 2.0 * 1 / 2 * (s / 8) / 50e9)  // all-reduce of the shard across 2 nodes
                          + (7 * 5e-6 + 7.0 / 8 * s / 450e9);        // all-gather inside
  const double t = hw::collective_time(Collective::all_reduce, CollectiveAlgorithm::ring, s, 16, 2, kNvlink, kNic);
  CHECK(t == Approx(expected));
  // Slower than the same group on one (imaginary) 16-GPU NVLink domain, faster than a flat ring over NICs.
  CHECK(t > hw::collective_time(Collective::all_reduce, CollectiveAlgorithm::ring, s, 16, 1, kNvlink, kNic));
  CHECK(t < hw::flat_collective(Collective::all_reduce, CollectiveAlgorithm::ring, s, 16, kNic).time);
  // With efficiencies 1 and no latency (the ideal), only bandwidth terms remain and they are smaller.
  CHECK(hw::collective_time(Collective::all_reduce, CollectiveAlgorithm::ring, s, 16, 2, kNvlink, kNic, true) < t);
}

TEST_CASE("collectives: routed rows cross once per remote node they reach (DeepEP)", "[hw][collective][moe]") {
  // DeepSeek-V3: top-8 of 256 experts in 8 groups, at most 4 groups per token, EP64 over 8 nodes
  // (one group per node): a row reaches 4 nodes, 4 x 7/8 = 3.5 of them remote on average.
  const RoutedRows node_limited{8, 8, 4};
  CHECK(hw::routed_remote_nodes(8, node_limited) == Approx(3.5));
  // Unlimited: 8 experts spread over 8 nodes reach 8 (1 - (7/8)^8) = 5.25 distinct nodes.
  CHECK(hw::routed_remote_nodes(8, {8, 0, 0}) == Approx(8 * (1 - std::pow(7.0 / 8, 8)) * 7 / 8));
  // Two groups per node (8 groups over 4 nodes): 4 groups drawn miss a node with C(6,4)/C(8,4) = 15/70.
  CHECK(hw::routed_remote_nodes(4, node_limited) == Approx(4 * (1 - 15.0 / 70) * 3 / 4));
  // A group spanning two nodes (8 groups over 16 nodes): 4 groups cover at most 8 nodes; the
  // unlimited spread of 8 experts over 16 nodes reaches fewer, 16 (1 - (15/16)^8).
  CHECK(hw::routed_remote_nodes(16, node_limited) ==
        Approx(std::min(8.0, 16 * (1 - std::pow(15.0 / 16, 8))) * 15 / 16));
  // The all-to-all: payload / k x remote nodes over the NIC, the k copies forwarded over NVLink;
  // the NIC side binds here. A plain all-to-all sends every copy bound elsewhere over the NIC.
  const double payload = 4096.0 * 8 * 7168 * 2;  // one micro-batch's rows, BF16
  const double routed = hw::collective_time(Collective::all_to_all, CollectiveAlgorithm::ring, payload, 64, 8, kNvlink, kNic,
                                            true, node_limited);
  CHECK(routed == Approx(payload / 8 * 3.5 / 50e9));
  const double plain =
      hw::collective_time(Collective::all_to_all, CollectiveAlgorithm::ring, payload, 64, 8, kNvlink, kNic, true);
  CHECK(plain == Approx(payload * 56 / 64 / 50e9));
  CHECK(plain / routed == Approx(2.0));  // 7 copies' worth of bytes across against 3.5
  // Inside one node nothing changes.
  CHECK(hw::collective_time(Collective::all_to_all, CollectiveAlgorithm::ring, payload, 8, 1, kNvlink, kNic, true,
                            node_limited) ==
        Approx(hw::collective_time(Collective::all_to_all, CollectiveAlgorithm::ring, payload, 8, 1, kNvlink, kNic, true)));
}
