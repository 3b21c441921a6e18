// The trace replayer: each TEST_CASE runs one SimGrid engine (ctest gives each its own process).
#include <catch2/catch.hpp>

#include <numeric>

#include "chakra_files.hpp"
#include "sim/core/config.hpp"
#include "sim/core/error.hpp"
#include "sim/engine/trace_replay_engine.hpp"
#include "sim/engine/ring_collective.hpp"
#include "sim/scenario/replay_scenario.hpp"

using namespace hetsim;
using Catch::Matchers::Contains;

namespace {

sim::ReplayScenario load(const test::TempDir& dir, const std::string& yaml) {
  const std::string file = dir.write("replay.yaml", yaml);
  return sim::load_replay_scenario(config::Document::load_file(file));
}

std::string astra_pattern() {
  const std::string any = test::astra_allreduce(0);
  return any.substr(0, any.size() - 4) + "{rank}.et";
}

}  // namespace

TEST_CASE("replay: ASTRA-sim's 8-rank 1 MiB all-reduce on an idle HGX H100 equals the alpha-beta ring time", "[replay]") {
  test::TempDir dir("replay_ab");
  const auto sc = load(dir, "replay: {format: chakra, traces: '" + astra_pattern() +
                                "'}\ncluster: {device: h100-sxm5-80gb, node: hgx-h100}\n");
  REQUIRE(sc.world_size == 8);
  const auto rec = sim::run_replay(sc);
  // NCCL's ring all-reduce: 2(n-1)/n of the payload through each GPU's link, 2(n-1) steps each
  // paying the route latency once. Both terms read from the node description, not the engine.
  const hw::NodeTopology& topo = sc.nodes.node->topology;
  const int n = 8;
  const double S = 1048576.0;
  const auto shape = sim::ring_shape(Collective::all_reduce, n);
  REQUIRE(shape.steps == 2 * (n - 1));
  const double alpha = topo.idle_transfer_time("gpu0.hbm", "gpu1.hbm", 0, 1 << 20);
  const double beta_part = topo.idle_transfer_time("gpu0.hbm", "gpu1.hbm", 2.0 * (n - 1) / n * S, 1 << 20) - alpha;
  const double expected = beta_part + shape.steps * alpha;
  INFO("alpha " << alpha << " s, bandwidth term " << beta_part << " s, expected " << expected << " s");
  CHECK(rec.makespan == Approx(expected).epsilon(0.01));
  REQUIRE(rec.collectives.size() == 1);
  CHECK(rec.collectives[0].members == 8);
  CHECK(rec.collectives[0].bytes == S);
  for (const auto& r : rec.ranks) {
    CHECK(r.ops == 1);
    CHECK(r.compute == 0);
    CHECK(r.exposed_comm == Approx(rec.makespan).epsilon(1e-9));
  }
}

TEST_CASE("replay: the custom ring all-reduce (sends, receives, reductions) finishes with every send matched", "[replay]") {
  test::TempDir dir("replay_ring");
  const std::string any = test::astra_custom_ring(0);
  const auto sc = load(dir, "replay: {format: chakra, traces: '" + any.substr(0, any.size() - 4) +
                                "{rank}.et'}\ncluster: {device: h100-sxm5-80gb, node: hgx-h100}\n");
  std::size_t sends = 0, ops = 0;
  for (const auto& t : sc.traces) {
    ops += t.ops.size();
    for (const auto& op : t.ops) sends += op.kind == exec_trace::TraceOpKind::send;
  }
  const auto rec = sim::run_replay(sc);  // an unmatched message would be a deadlock error
  std::size_t sent = 0, done = 0;
  for (const auto& r : rec.ranks) {
    sent += r.p2p;
    done += r.ops;
  }
  CHECK(sent == sends);
  CHECK(done == ops);
  CHECK(rec.flows == sends);  // one transfer per matched pair
  // 28 dependent steps of 128 KiB over NVLink plus 7 reductions of 7 us each on every rank.
  CHECK(rec.makespan > 7 * 7e-6);
  for (const auto& r : rec.ranks) CHECK(r.compute == Approx(7 * 7e-6).epsilon(1e-6));
}

TEST_CASE("replay: the PyTorch feeder trace on its own hardware takes at least its GPU compute time", "[replay]") {
  test::TempDir dir("replay_feeder");
  const auto sc = load(dir, "replay: {format: chakra, traces: ['" + test::chakra_feeder() +
                                "'], ctrl_deps: false}\ncluster: {device: h100-sxm5-80gb}\n");
  double gpu = 0;
  for (const auto& op : sc.traces[0].ops)
    if (op.kind == exec_trace::TraceOpKind::compute) gpu += op.duration;
  const auto rec = sim::run_replay(sc);
  REQUIRE(rec.ranks.size() == 1);
  CHECK(rec.ranks[0].compute == Approx(gpu).epsilon(1e-9));  // every kernel ran exactly once
  CHECK(rec.makespan >= gpu * (1 - 1e-12));
  CHECK(rec.collectives.size() == 7);  // one member each: done on arrival
}

TEST_CASE("replay: a receive no one sends to is reported as a deadlock naming the rank and op", "[replay]") {
  test::TempDir dir("replay_deadlock");
  auto recv = test::chakra_node(3, ChakraProtoMsg::COMM_RECV_NODE);
  test::add_int_attr(recv, "comm_src", 1);
  test::add_int_attr(recv, "comm_tag", 9);
  test::add_int_attr(recv, "comm_size", 4096);
  auto work = test::chakra_node(4, ChakraProtoMsg::COMP_NODE, {3});
  work.set_duration_micros(5);
  test::write_chakra(dir.file("stuck.0.et"), {recv, work});
  auto other = test::chakra_node(1, ChakraProtoMsg::COMP_NODE);
  other.set_duration_micros(10);
  test::write_chakra(dir.file("stuck.1.et"), {other});
  const auto sc = load(dir, "replay: {format: chakra, traces: 'stuck.{rank}.et'}\ncluster: {device: h100-sxm5-80gb}\n");
  REQUIRE(sc.world_size == 2);
  // One engine per process: run once, check the message.
  try {
    sim::run_replay(sc);
    FAIL("the deadlock was not reported");
  } catch (const InputError& e) {
    CHECK_THAT(e.what(), Contains("stuck.0.et") && Contains("deadlock") && Contains("rank 0") && Contains("op id 3") &&
                             Contains("no matching send"));
  }
}
