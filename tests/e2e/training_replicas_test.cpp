// Simulating one data-parallel replica (training.simulate_replicas: one) for its identical peers,
// whose pipeline sends and collectives still load the network as flows, gives the full
// simulation's answer: the same iterations to the byte, the same summary, and rank records equal
// to the full run's replica 0.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace hetsim;

namespace {

// Pipeline stages on different nodes, data-parallel rings across nodes, NICs slow enough that
// pipeline sends and gradient rings contend with each other.
constexpr const char* kInterleavedZero0 = R"(
model: llama-3-8b
cluster: {device: h100-sxm5-80gb, node: hgx-h100, nic_bandwidth: 50 Gbps, fabric: {kind: rail, uplink_bandwidth: 3.2 Tbps, latency: 1 us}}
training:
  seq_len: 2048
  global_batch: 64
  parallel: {tp: 2, pp: 4, dp: 4}
  zero: 0
  iterations: 2
policies: {pipeline_schedule: {impl: interleaved_1f1b, virtual_stages: 2}}
)";

constexpr const char* kFsdpAcrossNodes = R"(
model: llama-3-8b
cluster: {device: h100-sxm5-80gb, node: hgx-h100, nic_bandwidth: 100 Gbps, fabric: {kind: rail, uplink_bandwidth: 3.2 Tbps, latency: 1 us}}
training:
  seq_len: 4096
  global_batch: 32
  parallel: {tp: 1, pp: 2, dp: 16}
  zero: 3
  iterations: 2
policies: {pipeline_schedule: {impl: zb_h1}}
)";

// DualPipe: each stage's two copies (ranks s and p-1-s, different nodes) reduce with all their
// data-parallel replicas in one ring; the reduced run must still start every flow.
constexpr const char* kDualPipeZero1 = R"(
model: llama-3-8b
cluster: {device: h100-sxm5-80gb, node: hgx-h100, nic_bandwidth: 50 Gbps, fabric: {kind: rail, uplink_bandwidth: 3.2 Tbps, latency: 1 us}}
training:
  seq_len: 2048
  global_batch: 64
  parallel: {tp: 2, pp: 4, dp: 4}
  zero: 1
  iterations: 2
policies: {pipeline_schedule: {impl: dualpipe}}
)";

void run(const std::string& file, const std::string& out, const char* replicas) {
  const auto r = test::run_hetsim(
      fmt::format("run --quiet '{}' --out '{}' --set training.simulate_replicas={}", file, out, replicas));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
}

void check_same_answer(const std::string& file, test::TempDir& dir) {
  INFO(file);
  run(file, dir.file("all"), "all");
  run(file, dir.file("one"), "one");
  CHECK(test::read_file(dir.file("all/iterations.csv")) == test::read_file(dir.file("one/iterations.csv")));
  const auto all = nlohmann::json::parse(test::read_file(dir.file("all/summary.json")));
  const auto one = nlohmann::json::parse(test::read_file(dir.file("one/summary.json")));
  const int dp = all["plan"]["dp"].get<int>();
  CHECK(all["engine"]["simulated_replicas"].get<int>() == dp);
  CHECK(one["engine"]["simulated_replicas"].get<int>() == 1);
  // Every flow of the full run is started in the reduced one too.
  CHECK(one["engine"]["transfers"] == all["engine"]["transfers"]);
  CHECK(one["engine"]["passes"].get<double>() * dp == all["engine"]["passes"].get<double>());
  for (const char* key : {"step_time_s", "tokens_per_s", "mfu", "hfu"}) {
    INFO(key);
    CHECK(one["training"][key].get<double>() == Approx(all["training"][key].get<double>()).epsilon(1e-12));
  }
  // The reduced run's rank records are the full run's replica 0.
  const auto all_ranks = test::read_csv(dir.file("all/ranks.csv"));
  const auto one_ranks = test::read_csv(dir.file("one/ranks.csv"));
  std::vector<std::map<std::string, std::string>> replica0;
  for (const auto& r : all_ranks)
    if (r.at("dp") == "0") replica0.push_back(r);
  REQUIRE(one_ranks.size() == replica0.size());
  for (std::size_t i = 0; i < one_ranks.size(); ++i)
    for (const auto& [column, value] : replica0[i]) {
      INFO(column << " of rank group " << i);
      if (column == "device") {  // the one text column
        CHECK(one_ranks[i].at(column) == value);
        continue;
      }
      CHECK(std::stod(one_ranks[i].at(column)) == Approx(std::stod(value)).epsilon(1e-9).margin(1e-12));
    }
}

}  // namespace

TEST_CASE("training replicas: one simulated replica gives the full answer (interleaved, ZeRO-0, slow NICs)",
          "[e2e][training]") {
  test::TempDir dir("train_replicas_a");
  check_same_answer(dir.write("job.yaml", kInterleavedZero0), dir);
}

TEST_CASE("training replicas: one simulated replica gives the full answer (ZB-H1, FSDP across nodes)", "[e2e][training]") {
  test::TempDir dir("train_replicas_b");
  check_same_answer(dir.write("job.yaml", kFsdpAcrossNodes), dir);
}

TEST_CASE("training replicas: one simulated replica gives the full answer (DualPipe, ZeRO-1, slow NICs)",
          "[e2e][training]") {
  test::TempDir dir("train_replicas_dualpipe");
  check_same_answer(dir.write("job.yaml", kDualPipeZero1), dir);
}

TEST_CASE("training replicas: one simulated replica gives the full answer (the shipped 70B scenario)", "[e2e][training]") {
  test::TempDir dir("train_replicas_c");
  check_same_answer(test::source_dir() + "/scenarios/train_llama3_70b_64xh100.yaml", dir);
}

TEST_CASE("training replicas: auto simulates every replica up to 4,096 GPUs and one beyond", "[e2e][training]") {
  test::TempDir dir("train_replicas_auto");
  const auto file = dir.write("job.yaml", R"(
model: llama-3-8b
cluster: {device: h100-sxm5-80gb, node: hgx-h100, fabric: {kind: rail, uplink_bandwidth: 400 Tbps, latency: 1 us}}
training:
  seq_len: 1024
  global_batch: 1024
  parallel: {tp: 8, pp: 1, dp: 512}
  iterations: 1
)");
  for (const auto& [dp, expected] : {std::pair{512, 512}, std::pair{1024, 1}}) {
    INFO("dp " << dp);
    const auto out = dir.file(fmt::format("dp{}", dp));
    const auto r = test::run_hetsim(fmt::format("run --quiet '{}' --out '{}' --set training.parallel.dp={}", file, out, dp));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    const auto summary = nlohmann::json::parse(test::read_file(out + "/summary.json"));
    CHECK(summary["gpus"].get<int>() == 8 * dp);
    CHECK(summary["engine"]["simulated_replicas"].get<int>() == expected);
  }
}
