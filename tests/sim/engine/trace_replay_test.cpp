// The trace replayer: each TEST_CASE runs one SimGrid engine (ctest gives each its own process).
#include <catch2/catch.hpp>

#include <numeric>

#include "chakra_files.hpp"
#include "hw/device.hpp"
#include "hw/node.hpp"
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

namespace {

/// A one-rank replay of `ops` on one H100, built in code (as a Kineto trace would give it: streams,
/// launch times).
sim::ReplayScenario one_rank(std::vector<exec_trace::TraceOp> ops, bool host_issue, int iterations) {
  sim::ReplayScenario sc;
  sc.name = "synthetic";
  sc.format = "kineto";
  exec_trace::RankTrace t;
  t.source = "synthetic.json";
  t.ops = std::move(ops);
  sc.traces.push_back(std::move(t));
  sc.graphs.push_back(exec_trace::build_trace_graph(sc.traces.back()));
  sc.world_size = 1;
  sc.trace_of_rank = {0};
  sc.device = std::make_shared<const hw::Device>(hw::catalog_device("h100-sxm5-80gb"));
  sc.recorded_on = sc.device;
  sc.nodes = {std::make_shared<const hw::NodeSpec>(hw::default_node(*sc.device, 1)), 1};
  sc.time_scale.fill(1.0);
  sc.host_issue = host_issue;
  sc.iterations = iterations;
  return sc;
}

exec_trace::TraceOp kernel(std::uint64_t id, int stream, double micros, double issue_micros) {
  exec_trace::TraceOp op;
  op.id = id;
  op.name = "k" + std::to_string(id);
  op.stream = stream;
  op.duration = micros * 1e-6;
  op.issue = issue_micros * 1e-6;
  return op;
}

}  // namespace

TEST_CASE("replay: kernels of a rank run one at a time, in stream order, iteration after iteration", "[replay]") {
  // Two streams, no explicit dependencies: still one compute stream, so 10 + 5 + 3 us per iteration.
  const auto sc = one_rank({kernel(1, 0, 10, 0), kernel(2, 1, 5, 0), kernel(3, 0, 3, 0)}, false, 2);
  const auto rec = sim::run_replay(sc, {.timeline = true});
  CHECK(rec.makespan == Approx(2 * 18e-6).epsilon(1e-9));
  CHECK(rec.ranks[0].compute == Approx(2 * 18e-6).epsilon(1e-9));
  CHECK(rec.ranks[0].ops == 6);
  REQUIRE(rec.spans.size() == 6);
  for (std::size_t i = 1; i < rec.spans.size(); ++i) CHECK(rec.spans[i].start >= rec.spans[i - 1].end - 1e-12);
}

TEST_CASE("replay: host_issue keeps the recorded launch times as earliest starts", "[replay]") {
  // The second kernel was launched 20 us into the step: with host_issue it cannot start earlier.
  const auto sc = one_rank({kernel(1, 0, 10, 0), kernel(2, 0, 5, 20)}, true, 2);
  const auto rec = sim::run_replay(sc);
  CHECK(rec.makespan == Approx(2 * 25e-6).epsilon(1e-9));
  CHECK(rec.ranks[0].compute == Approx(2 * 15e-6).epsilon(1e-9));
  CHECK(rec.ranks[0].idle == Approx(2 * 10e-6).epsilon(1e-6));
}
