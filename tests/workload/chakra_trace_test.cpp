// The Chakra reader on the real samples (ASTRA-sim's microbenchmarks, a PyTorch trace converted
// to Chakra) and on broken files: counts are what the files hold, measured once and asserted.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>

#include "chakra_files.hpp"
#include "sim/core/error.hpp"
#include "workload/exec_trace/chakra_trace.hpp"
#include "workload/exec_trace/trace_graph.hpp"

using namespace hetsim;
using namespace hetsim::exec_trace;
using Catch::Matchers::Contains;

TEST_CASE("exec_trace::read_chakra_trace: each ASTRA-sim microbenchmark rank holds one 1 MiB all-reduce", "[chakra]") {
  for (int r = 0; r < 8; ++r) {
    const RankTrace t = read_chakra_trace(test::astra_allreduce(r));
    INFO(t.source);
    CHECK(t.rank == r);
    REQUIRE(t.ops.size() == 1);
    CHECK(t.ops[0].kind == TraceOpKind::collective);
    CHECK(t.ops[0].collective == Collective::all_reduce);
    CHECK(t.ops[0].bytes == 1048576.0);
    CHECK(t.ops[0].group.empty());
    CHECK(t.ops[0].deps.empty());
  }
}

TEST_CASE("exec_trace::read_chakra_trace: the custom ring's sends and receives pair up across ranks", "[chakra]") {
  std::map<std::pair<int, int>, int> sends, recvs;  // (src, dst) -> count
  for (int r = 0; r < 8; ++r) {
    const RankTrace t = read_chakra_trace(test::astra_custom_ring(r));
    int s = 0, v = 0, c = 0;
    for (const auto& op : t.ops) {
      if (op.kind == TraceOpKind::send) {
        ++s;
        ++sends[{r, op.peer}];
        CHECK(op.bytes == 131072.0);
      }
      if (op.kind == TraceOpKind::recv) {
        ++v;
        ++recvs[{op.peer, r}];
      }
      if (op.kind == TraceOpKind::compute && op.duration > 0) ++c;
    }
    // Measured: 28 ring steps per rank, 14 sends / 14 receives with a reduction after each of the
    // first 7 receives (reduce-scatter half), as the MSCCL-style XML in the file's metadata says.
    CHECK(s == 14);
    CHECK(v == 14);
    CHECK(c == 7);
  }
  CHECK(sends == recvs);
  CHECK(sends.size() == 8);  // a ring: each rank sends to exactly one neighbour
}

TEST_CASE("exec_trace::read_chakra_trace: the PyTorch feeder trace (rank 0)", "[chakra]") {
  const std::string path = test::chakra_feeder();
  // Its ctrl_deps name parent ops: 1,277 on nodes the file does not hold, 383 on the node itself,
  // and with the data edges 599 two-node cycles. Followed, they are an error; dropped, a cycle.
  REQUIRE_THROWS_AS(read_chakra_trace(path), InputError);
  REQUIRE_THROWS_WITH(read_chakra_trace(path), Contains("chakra_feeder_rank0.et") && Contains("depends on") &&
                                                   Contains("unknown_deps"));
  const RankTrace with_ctrl = read_chakra_trace(path, {.drop_unknown_deps = true});
  CHECK(with_ctrl.dropped_deps == 1277 + 383);
  REQUIRE_THROWS_WITH(build_trace_graph(with_ctrl), Contains("cycle") && Contains("ctrl_deps"));
  // By data_deps only (Chakra's feeder, ASTRA-sim): every dependency is in the file, no cycle.
  const RankTrace t = read_chakra_trace(path, {.ctrl_deps = false});
  CHECK(t.dropped_deps == 0);
  CHECK(build_trace_graph(t).indegree.size() == t.ops.size());
  std::size_t compute = 0, gpu = 0, collectives = 0, all_reduce = 0, broadcast = 0;
  double gpu_seconds = 0, bytes = 0;
  for (const auto& op : t.ops) {
    if (op.kind == TraceOpKind::compute) ++compute;
    if (op.kind == TraceOpKind::compute && op.duration > 0) {
      ++gpu;
      gpu_seconds += op.duration;
    }
    if (op.kind == TraceOpKind::collective) {
      ++collectives;
      bytes += op.bytes;
      all_reduce += op.collective == Collective::all_reduce;
      broadcast += op.collective == Collective::broadcast;
    }
  }
  // 3,643 COMP_NODEs and 21 COMM_COLL_NODEs; 14 of the latter are host-side c10d calls
  // (is_cpu_op, no comm_type): ordering only, like the 2,434 host COMP_NODEs.
  CHECK(t.ops.size() == 3643 + 21);
  CHECK(compute == 3643 + 14);
  CHECK(collectives == 7);
  CHECK(all_reduce == 5);
  CHECK(broadcast == 2);
  CHECK(bytes == 212480.0 + 424.0 + 8196000.0 + 31502336.0 + 26255360.0 + 26550272.0 + 9724160.0);
  CHECK(gpu <= 1209);  // GPU kernels (is_cpu_op false); a few record 0 us
  CHECK(gpu_seconds == Approx(0.292828).epsilon(1e-9));
}

TEST_CASE("exec_trace::read_chakra_trace: broken files are InputErrors naming the file", "[chakra]") {
  test::TempDir dir("chakra_bad");
  std::ifstream in(test::astra_custom_ring(0), std::ios::binary);
  const std::string whole((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(whole.size() > 100);

  SECTION("truncated") {
    const std::string cut = dir.file("cut.0.et");
    std::ofstream(cut, std::ios::binary) << whole.substr(0, whole.size() - 37);
    REQUIRE_THROWS_AS(read_chakra_trace(cut), InputError);
    REQUIRE_THROWS_WITH(read_chakra_trace(cut), Contains("cut.0.et") && Contains("byte"));
  }
  SECTION("garbage") {
    const std::string junk = dir.file("junk.et");
    std::string bytes(4096, '\0');
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 2654435761u) >> 13);
    std::ofstream(junk, std::ios::binary) << bytes;
    REQUIRE_THROWS_AS(read_chakra_trace(junk), InputError);
    REQUIRE_THROWS_WITH(read_chakra_trace(junk), Contains("junk.et"));
  }
  SECTION("empty") {
    const std::string empty = dir.file("empty.et");
    std::ofstream(empty, std::ios::binary).flush();
    REQUIRE_THROWS_WITH(read_chakra_trace(empty), Contains("empty.et") && Contains("empty"));
  }
  SECTION("missing") { REQUIRE_THROWS_WITH(read_chakra_trace(dir.file("none.et")), Contains("none.et")); }
  SECTION("a dependency on an unknown node") {
    const std::string path = dir.file("dep.0.et");
    test::write_chakra(path, {test::chakra_node(1, ChakraProtoMsg::COMP_NODE), test::chakra_node(2, ChakraProtoMsg::COMP_NODE, {7})});
    REQUIRE_THROWS_WITH(read_chakra_trace(path), Contains("dep.0.et") && Contains("node id 2") && Contains("node id 7"));
    CHECK(read_chakra_trace(path, {.drop_unknown_deps = true}).dropped_deps == 1);
  }
  SECTION("a collective without comm_type") {
    const std::string path = dir.file("coll.0.et");
    test::write_chakra(path, {test::chakra_node(5, ChakraProtoMsg::COMM_COLL_NODE)});
    REQUIRE_THROWS_WITH(read_chakra_trace(path), Contains("coll.0.et") && Contains("node id 5") && Contains("comm_type"));
  }
}

TEST_CASE("exec_trace::classify_compute: op class from the name", "[chakra]") {
  CHECK(classify_compute("aten::addmm") == OpClass::gemm);
  CHECK(classify_compute("aten::linear") == OpClass::gemm);
  CHECK(classify_compute("sm90_xmma_gemm_bf16bf16_bf16f32") == OpClass::gemm);
  CHECK(classify_compute("aten::_scaled_dot_product_flash_attention") == OpClass::attention_prefill);
  CHECK(classify_compute("flash_fwd_kernel") == OpClass::attention_prefill);
  CHECK(classify_compute("aten::add_") == OpClass::elementwise);
  CHECK(classify_compute("void at::native::vectorized_elementwise_kernel") == OpClass::elementwise);
  CHECK(chakra_rank_from_name("/x/all_reduce.7.et") == 7);
  CHECK(chakra_rank_from_name("/x/chakra_feeder_rank0.et") == -1);
}
