// The PyTorch profiler (Kineto) trace reader: the real samples in ../shared/data/kineto_hta (figures
// measured independently with python's gzip + json), a hand-written trace for the dependency and
// classification rules, and every malformed-input path.
#include <zlib.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <set>

#include "sim/core/error.hpp"
#include "support.hpp"
#include "workload/exec_trace/json_file.hpp"
#include "workload/exec_trace/kineto_names.hpp"
#include "workload/exec_trace/kineto_trace.hpp"

using namespace hetsim;
using namespace hetsim::exec_trace;
using Catch::Contains;

namespace {

/// A file of ../shared/data/kineto_hta; the test fails (never skips) when it is missing.
std::string hta_sample(const std::string& name) {
  const std::string path = test::shared_data() + "/kineto_hta/" + name;
  INFO("shared data missing: " << path << " (see ../shared/data/README.md; run ctest -E 'shared data' to leave it out)");
  REQUIRE(std::filesystem::exists(path));
  return path;
}

bool is_copy_or_set(const TraceOp& op) { return op.name.rfind("Memcpy", 0) == 0 || op.name.rfind("Memset", 0) == 0; }

std::map<Collective, int> collective_counts(const RankTrace& t) {
  std::map<Collective, int> out;
  for (const auto& op : t.ops)
    if (op.kind == TraceOpKind::collective) ++out[op.collective];
  return out;
}

double collective_bytes(const RankTrace& t, Collective c) {
  double sum = 0;
  for (const auto& op : t.ops)
    if (op.kind == TraceOpKind::collective && op.collective == c) sum += op.bytes;
  return sum;
}

// Hand-written trace (µs). Streams 7 (compute) and 20 (communication); one host thread.
//   launch  0 -> gemm        s7  [10, 110)
//   launch  6 -> flash attn  s7  [110, 160)
//   launch 12 -> NCCL AR     s20 [20, 220)   1024 bf16 elements, group "3" = ranks {0, 2}
//   cudaDeviceSynchronize [20, 230): waits for all three
//   launch 235 -> elementwise s7 [240, 250)  depends on the all-reduce (stream 20)
//   launch 236 -> nvjet gemm  s20 [245, 250) depends on the flash kernel (stream 7)
//   launch 237 -> memset      s7 [251, 252)  nothing: stream 7 already waited
//   cudaStreamSynchronize [300, 320) on stream 20 (cuda_sync activity): waits for the nvjet kernel
//   launch 330 -> elementwise s7 [335, 336)  depends on the nvjet kernel
//   launch 331 -> elementwise s20 [340, 341) nothing (own stream)
//   cudaEventRecord at 400 (on stream 20), cudaStreamWaitEvent at 401: stream 7 waits for it
//   launch 405 -> elementwise s7 [410, 411)  depends on the s20 kernel at 340
//   launch 406 -> elementwise s20 [415, 416) nothing (only stream 7 waits)
const char* kTinyTrace = R"json({
  "distributedInfo": {"backend": "nccl", "rank": 1, "world_size": 4},
  "traceEvents": [
    {"ph": "M", "name": "process_name", "pid": 0, "tid": 0, "args": {"name": "GPU 0"}},
    {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 100, "tid": 1, "ts": 0, "dur": 5, "args": {"correlation": 1}},
    {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 100, "tid": 1, "ts": 6, "dur": 5, "args": {"correlation": 2}},
    {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 100, "tid": 1, "ts": 12, "dur": 5, "args": {"correlation": 3}},
    {"ph": "X", "cat": "cuda_runtime", "name": "cudaDeviceSynchronize", "pid": 100, "tid": 1, "ts": 20, "dur": 210, "args": {"correlation": 4}},
    {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 100, "tid": 1, "ts": 235, "dur": 1, "args": {"correlation": 5}},
    {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 100, "tid": 1, "ts": 236, "dur": 1, "args": {"correlation": 6}},
    {"ph": "X", "cat": "cuda_runtime", "name": "cudaMemsetAsync", "pid": 100, "tid": 1, "ts": 237, "dur": 1, "args": {"correlation": 7}},
    {"ph": "X", "cat": "cuda_runtime", "name": "cudaStreamSynchronize", "pid": 100, "tid": 1, "ts": 300, "dur": 20, "args": {"correlation": 8}},
    {"ph": "X", "cat": "cuda_sync", "name": "Stream Sync", "pid": 0, "tid": 20, "ts": 300, "dur": 18, "args": {"cuda_sync_kind": "Stream Sync", "stream": 20, "correlation": 8}},
    {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 100, "tid": 1, "ts": 330, "dur": 1, "args": {"correlation": 9}},
    {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 100, "tid": 1, "ts": 331, "dur": 1, "args": {"correlation": 10}},
    {"ph": "X", "cat": "cuda_runtime", "name": "cudaEventRecord", "pid": 100, "tid": 1, "ts": 400, "dur": 1, "args": {"correlation": 11}},
    {"ph": "X", "cat": "cuda_runtime", "name": "cudaStreamWaitEvent", "pid": 100, "tid": 1, "ts": 401, "dur": 1, "args": {"correlation": 12}},
    {"ph": "X", "cat": "cuda_sync", "name": "Stream Wait Event", "pid": 0, "tid": 7, "ts": 341, "dur": 0, "args": {"cuda_sync_kind": "Stream Wait Event", "stream": 7, "correlation": 12, "wait_on_stream": 20, "wait_on_cuda_event_record_corr_id": 11}},
    {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 100, "tid": 1, "ts": 405, "dur": 1, "args": {"correlation": 13}},
    {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 100, "tid": 1, "ts": 406, "dur": 1, "args": {"correlation": 14}},
    {"ph": "X", "cat": "kernel", "name": "ampere_bf16_s16816gemm_bf16_128x128_ldg8_f2f_tn", "pid": 0, "tid": 7, "ts": 10, "dur": 100, "args": {"stream": 7, "correlation": 1}},
    {"ph": "X", "cat": "kernel", "name": "void flash_fwd_kernel<Flash_fwd_kernel_traits<128, 64>>(Flash_fwd_params)", "pid": 0, "tid": 7, "ts": 110, "dur": 50, "args": {"stream": 7, "correlation": 2}},
    {"ph": "X", "cat": "kernel", "name": "ncclDevKernel_AllReduce_Sum_bf16_RING_LL(ncclDevComm*, unsigned long, ncclWork*)", "pid": 0, "tid": 20, "ts": 20, "dur": 200,
     "args": {"stream": 20, "correlation": 3, "Collective name": "allreduce", "In msg nelems": 1024, "Out msg nelems": 1024, "dtype": "BFloat16",
              "Group size": 2, "Process Group Name": "3", "Process Group Ranks": "[0, 2]"}},
    {"ph": "X", "cat": "kernel", "name": "void at::native::vectorized_elementwise_kernel<4, at::native::FillFunctor<float>>(int, float*)", "pid": 0, "tid": 7, "ts": 240, "dur": 10, "args": {"stream": 7, "correlation": 5}},
    {"ph": "X", "cat": "kernel", "name": "nvjet_tst_128x256_64x4_1x2_h_bz_coopA_NNT", "pid": 0, "tid": 20, "ts": 245, "dur": 5, "args": {"stream": 20, "correlation": 6}},
    {"ph": "X", "cat": "gpu_memset", "name": "Memset (Device)", "pid": 0, "tid": 7, "ts": 251, "dur": 1, "args": {"stream": 7, "correlation": 7, "bytes": 64}},
    {"ph": "X", "cat": "kernel", "name": "rms_norm_kernel", "pid": 0, "tid": 7, "ts": 335, "dur": 1, "args": {"stream": 7, "correlation": 9}},
    {"ph": "X", "cat": "kernel", "name": "silu_kernel", "pid": 0, "tid": 20, "ts": 340, "dur": 1, "args": {"stream": 20, "correlation": 10}},
    {"ph": "X", "cat": "kernel", "name": "add_kernel", "pid": 0, "tid": 7, "ts": 410, "dur": 1, "args": {"stream": 7, "correlation": 13}},
    {"ph": "X", "cat": "kernel", "name": "mul_kernel", "pid": 0, "tid": 20, "ts": 415, "dur": 1, "args": {"stream": 20, "correlation": 14}}
  ]
})json";

/// kTinyTrace with one event's text replaced (for the malformed-input cases).
std::string tiny_with(const std::string& from, const std::string& to) {
  std::string s = kTinyTrace;
  const auto at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

void write_gzip(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

}  // namespace

TEST_CASE("kineto trace (shared data): a100_2rank_nccl kernels, all-reduces, rank, durations and streams", "[workload][kineto][shared_data]") {
  const auto t = read_kineto_trace(hta_sample("a100_2rank_nccl.json.gz"));
  CHECK(t.rank == 0);
  CHECK(t.world_size == 2);
  REQUIRE(t.ops.size() == 3774);  // 2700 kernels + 960 memcpy + 114 memset
  int kernels = 0;
  double kernel_seconds = 0;
  std::set<int> streams;
  for (const auto& op : t.ops) {
    streams.insert(op.stream);
    if (is_copy_or_set(op)) continue;
    ++kernels;
    kernel_seconds += op.duration;
  }
  CHECK(kernels == 2700);
  CHECK(kernel_seconds == Approx(162532.34e-6).epsilon(1e-9));
  CHECK(streams == std::set<int>{7, 40});
  // 15 all-reduces of float tensors, 306,684,384 bytes in all; 6 broadcasts (model sync), 638,712 bytes.
  const auto counts = collective_counts(t);
  CHECK(counts == std::map<Collective, int>{{Collective::all_reduce, 15}, {Collective::broadcast, 6}});
  CHECK(collective_bytes(t, Collective::all_reduce) == 306684384.0);
  CHECK(collective_bytes(t, Collective::broadcast) == 638712.0);
  for (const auto& op : t.ops)
    if (op.kind == TraceOpKind::collective) {
      CHECK(op.group == "0");
      CHECK(op.group_ranks == std::vector<int>{0, 1});
      CHECK(op.cls == OpClass::collective);
      CHECK(op.stream == 40);
    }
}

TEST_CASE("kineto trace (shared data): sampled_rank-0 collective kinds and counts from the nccl:* ranges", "[workload][kineto][shared_data]") {
  const auto t = read_kineto_trace(hta_sample("sampled_rank-0.json.gz"));
  CHECK(t.rank == 0);
  CHECK(t.world_size == 128);
  CHECK(t.ops.size() == 1204);
  // Every NCCL kernel is ncclKernel_SendRecv; the nccl:* profiler range around its launch names
  // the collective.
  CHECK(collective_counts(t) == std::map<Collective, int>{{Collective::all_reduce, 4}, {Collective::all_to_all, 4}, {Collective::all_gather, 2}});
  // Sizes from the c10d ops' tensor shapes: all-to-all input 850,250,752 bytes in all; each
  // all-gather's output is 1 GiB of int8. c10d::allreduce_ records a tensor list without shapes.
  CHECK(collective_bytes(t, Collective::all_to_all) == 850250752.0);
  CHECK(collective_bytes(t, Collective::all_gather) == 2147483648.0);
  CHECK(collective_bytes(t, Collective::all_reduce) == 0.0);
}

TEST_CASE("kineto trace (shared data): every launched op is issued no later than it starts and deps point to earlier ids", "[workload][kineto][shared_data]") {
  for (const std::string name : {"a100_2rank_nccl.json.gz", "sampled_rank-0.json.gz", "sampled_rank-1.json.gz"}) {
    INFO(name);
    const auto t = read_kineto_trace(hta_sample(name));
    REQUIRE(!t.ops.empty());
    std::size_t launched = 0;
    for (std::size_t i = 0; i < t.ops.size(); ++i) {
      const auto& op = t.ops[i];
      REQUIRE(op.id == i);
      CHECK(op.start >= 0);
      if (i > 0) CHECK(op.start >= t.ops[i - 1].start);
      if (op.issue >= 0) {
        ++launched;
        CHECK(op.issue <= op.start);
      }
      for (auto d : op.deps) CHECK(d < op.id);
    }
    CHECK(launched == t.ops.size());  // every GPU op of these samples has its runtime launch
  }
}

TEST_CASE("kineto trace: syncs order later launches after the waited ops, and kernels are classified by name", "[workload][kineto]") {
  test::TempDir dir("kineto_tiny");
  const auto t = read_kineto_trace(dir.write("tiny.json", kTinyTrace));
  CHECK(t.rank == 1);
  CHECK(t.world_size == 4);
  REQUIRE(t.ops.size() == 10);
  const std::vector<std::string> names{"ampere_bf16", "ncclDevKernel_AllReduce", "void flash_fwd", "void at::native::vectorized", "nvjet",
                                       "Memset", "rms_norm", "silu", "add_kernel", "mul_kernel"};
  for (std::size_t i = 0; i < names.size(); ++i) CHECK(t.ops[i].name.rfind(names[i], 0) == 0);

  SECTION("classification") {
    CHECK(t.ops[0].cls == OpClass::gemm);
    CHECK(t.ops[2].cls == OpClass::attention_prefill);
    CHECK(t.ops[3].cls == OpClass::elementwise);
    CHECK(t.ops[4].cls == OpClass::gemm);
    CHECK(t.ops[5].cls == OpClass::elementwise);
    const auto& ar = t.ops[1];
    CHECK(ar.kind == TraceOpKind::collective);
    CHECK(ar.cls == OpClass::collective);
    CHECK(ar.collective == Collective::all_reduce);
    CHECK(ar.bytes == 2048);  // 1024 bf16 elements
    CHECK(ar.group == "3");
    CHECK(ar.group_ranks == std::vector<int>{0, 2});
  }
  SECTION("times in seconds from the first launch") {
    CHECK(t.ops[0].issue == 0);
    CHECK(t.ops[0].start == Approx(10e-6));
    CHECK(t.ops[0].duration == Approx(100e-6));
    CHECK(t.ops[1].issue == Approx(12e-6));
    CHECK(t.ops[1].stream == 20);
  }
  SECTION("a device sync: the first launch after it on each stream waits for the other streams") {
    CHECK(t.ops[0].deps.empty());
    CHECK(t.ops[1].deps.empty());
    CHECK(t.ops[2].deps.empty());
    CHECK(t.ops[3].deps == std::vector<std::uint64_t>{1});  // stream 7 waits for the all-reduce
    CHECK(t.ops[4].deps == std::vector<std::uint64_t>{2});  // stream 20 waits for the flash kernel
    CHECK(t.ops[5].deps.empty());                            // stream order already covers it
  }
  SECTION("a stream sync waits for that stream only") {
    CHECK(t.ops[6].deps == std::vector<std::uint64_t>{4});
    CHECK(t.ops[7].deps.empty());
  }
  SECTION("a stream wait event: only the waiting stream gets the edge") {
    CHECK(t.ops[8].deps == std::vector<std::uint64_t>{7});
    CHECK(t.ops[9].deps.empty());
  }
}

TEST_CASE("kineto trace: a stream or event sync without its cuda_sync activity counts as a device sync", "[workload][kineto]") {
  test::TempDir dir("kineto_nosync");
  // Without the Stream Sync activity the stream is unknown: stream 20 now also waits for stream 7.
  const auto t = read_kineto_trace(dir.write("t.json", tiny_with(R"("cat": "cuda_sync", "name": "Stream Sync")", R"("cat": "other", "name": "Stream Sync")")));
  CHECK(t.ops[6].deps == std::vector<std::uint64_t>{4});
  CHECK(t.ops[7].deps == std::vector<std::uint64_t>{5});
}

TEST_CASE("kineto trace: plain and gzip-compressed files read the same", "[workload][kineto]") {
  test::TempDir dir("kineto_gz");
  const auto plain = read_kineto_trace(dir.write("t.json", kTinyTrace));
  write_gzip(dir.file("t.json.gz"), kTinyTrace);
  const auto gz = read_kineto_trace(dir.file("t.json.gz"));
  REQUIRE(gz.ops.size() == plain.ops.size());
  for (std::size_t i = 0; i < gz.ops.size(); ++i) {
    CHECK(gz.ops[i].name == plain.ops[i].name);
    CHECK(gz.ops[i].start == plain.ops[i].start);
    CHECK(gz.ops[i].deps == plain.ops[i].deps);
  }
  CHECK(gz.source == dir.file("t.json.gz"));
}

TEST_CASE("kineto trace (shared data): a truncated gzip copy is an InputError naming the file", "[workload][kineto][shared_data]") {
  test::TempDir dir("kineto_trunc");
  const std::string bytes = test::read_file(hta_sample("a100_2rank_nccl.json.gz"));
  REQUIRE(bytes.size() > 1000);
  const std::string cut = dir.write("cut.json.gz", bytes.substr(0, bytes.size() / 2));
  REQUIRE_THROWS_AS(read_kineto_trace(cut), InputError);
  REQUIRE_THROWS_WITH(read_kineto_trace(cut), Contains(cut) && Contains("gzip"));
}

TEST_CASE("kineto trace: malformed traces give one InputError naming the file and the event", "[workload][kineto]") {
  test::TempDir dir("kineto_bad");
  const std::string path = dir.file("bad.json");
  auto read_text = [&](const std::string& text) {
    std::filesystem::remove(path);
    dir.write("bad.json", text);
    return read_kineto_trace(path);
  };
  SECTION("not JSON") {
    REQUIRE_THROWS_WITH(read_text("{\"traceEvents\": [ {\"ph\": "), Contains(path) && Contains("not valid JSON"));
  }
  SECTION("no traceEvents") {
    REQUIRE_THROWS_WITH(read_text(R"({"schemaVersion": 1})"), Contains(path) && Contains("no traceEvents"));
  }
  SECTION("an event without ts") {
    REQUIRE_THROWS_WITH(read_text(tiny_with(R"("ts": 245, )", "")), Contains(path) && Contains("traceEvents[21]") && Contains("'ts'"));
  }
  SECTION("an event without dur") {
    REQUIRE_THROWS_WITH(read_text(tiny_with(R"("dur": 210, )", "")), Contains("traceEvents[4]") && Contains("'dur'"));
  }
  SECTION("a negative dur") {
    REQUIRE_THROWS_WITH(read_text(tiny_with(R"("dur": 210, )", R"("dur": -1, )")), Contains("traceEvents[4]") && Contains("negative dur"));
  }
  SECTION("a kernel without a stream") {
    REQUIRE_THROWS_WITH(read_text(tiny_with(R"("args": {"stream": 7, "correlation": 13})", R"("args": {"correlation": 13})")),
                        Contains("add_kernel") && Contains("args.stream"));
  }
  SECTION("an NCCL kernel of an unknown dtype") {
    REQUIRE_THROWS_WITH(read_text(tiny_with(R"("dtype": "BFloat16")", R"("dtype": "Quaternion")")),
                        Contains("ncclDevKernel_AllReduce") && Contains("Quaternion"));
  }
  SECTION("an NCCL kernel of an unknown collective") {
    REQUIRE_THROWS_WITH(read_text(tiny_with(R"("Collective name": "allreduce")", R"("Collective name": "frobnicate")")),
                        Contains("ncclDevKernel_AllReduce") && Contains("frobnicate"));
  }
  SECTION("rank not below world_size") {
    REQUIRE_THROWS_WITH(read_text(tiny_with(R"("rank": 1)", R"("rank": 4)")), Contains("distributedInfo"));
  }
  SECTION("a missing file") {
    REQUIRE_THROWS_WITH(read_kineto_trace(dir.file("absent.json.gz")), Contains("absent.json.gz") && Contains("no such file"));
  }
}

TEST_CASE("kineto trace: the decompressed size is bounded", "[workload][kineto]") {
  test::TempDir dir("kineto_bound");
  const std::string text(1000, ' ');
  write_gzip(dir.file("big.json.gz"), text);
  CHECK(read_maybe_gzip(dir.file("big.json.gz"), 1000).size() == 1000);  // exactly at the bound
  REQUIRE_THROWS_WITH(read_maybe_gzip(dir.file("big.json.gz"), 999), Contains("big.json.gz") && Contains("more than 999 bytes"));
}

TEST_CASE("kineto names: collective kinds from PyTorch, profiler-range, c10d and NCCL kernel names", "[workload][kineto]") {
  using kineto::comm_kind_of_kernel;
  using kineto::comm_kind_of_op;
  auto coll = [](const std::optional<kineto::CommKind>& k) { return k ? k->collective : Collective::none; };
  CHECK(coll(comm_kind_of_op("allreduce")) == Collective::all_reduce);
  CHECK(coll(comm_kind_of_op("allreduce_coalesced")) == Collective::all_reduce);
  CHECK(coll(comm_kind_of_op("_allgather_base")) == Collective::all_gather);
  CHECK(coll(comm_kind_of_op("allgather_into_tensor_coalesced")) == Collective::all_gather);
  CHECK(coll(comm_kind_of_op("reduce_scatter_tensor_coalesced")) == Collective::reduce_scatter);
  CHECK(coll(comm_kind_of_op("all_to_allv")) == Collective::all_to_all);
  CHECK(coll(comm_kind_of_op("nccl:_all_gather_base")) == Collective::all_gather);
  CHECK(coll(comm_kind_of_op("c10d::alltoall_base_")) == Collective::all_to_all);
  CHECK(coll(comm_kind_of_op("broadcast")) == Collective::broadcast);
  CHECK(comm_kind_of_op("send")->kind == TraceOpKind::send);
  CHECK(comm_kind_of_op("recvAnySource")->kind == TraceOpKind::recv);
  CHECK_FALSE(comm_kind_of_op("gather"));
  CHECK(coll(comm_kind_of_kernel("ncclKernel_AllReduce_RING_LL_Sum_float(ncclDevComm*, unsigned long, ncclWork*)")) == Collective::all_reduce);
  CHECK(coll(comm_kind_of_kernel("ncclDevKernel_ReduceScatter_Sum_bf16_RING_LL(ncclDevComm*, unsigned long, ncclWork*)")) ==
        Collective::reduce_scatter);
  CHECK(coll(comm_kind_of_kernel("ncclDevKernel_SendRecv(ncclDevComm*, unsigned long, ncclWork*)")) == Collective::send_recv);
  CHECK(comm_kind_of_kernel("ncclKernel_Send_RING_SIMPLE_Sum_int8_t(ncclDevComm*, unsigned long, ncclWork*)")->kind == TraceOpKind::send);
  CHECK(kineto::dtype_bytes("BFloat16") == 2);
  CHECK(kineto::dtype_bytes("unsigned char") == 1);
  CHECK_FALSE(kineto::dtype_bytes("Quaternion"));
}
