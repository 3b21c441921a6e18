// Trace replay through the CLI: every shipped scenarios/replay_*.yaml runs and writes its results;
// runs are deterministic to the byte; a what-if on a faster device is faster; bad input is one
// clear error (exit 2) naming the key path.
#include <catch2/catch.hpp>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "chakra_files.hpp"
#include "support.hpp"
#include "workload/exec_trace/kineto_trace.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {

std::vector<std::string> shipped_replay_scenarios() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(test::source_dir() + "/scenarios"))
    if (e.path().filename().string().starts_with("replay_") && e.path().extension() == ".yaml") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string feeder_scenario() { return test::source_dir() + "/scenarios/replay_pytorch_feeder_1xh100.yaml"; }

nlohmann::json summary_of(const test::TempDir& out) {
  return nlohmann::json::parse(test::read_file(out.file("summary.json")));
}

}  // namespace

TEST_CASE("replay cli: every shipped replay scenario runs and writes complete results", "[e2e][replay]") {
  test::chakra_feeder();  // the shared data must be there: fail, never skip
  const auto scenarios = shipped_replay_scenarios();
  REQUIRE(scenarios.size() >= 2);
  for (const auto& path : scenarios) {
    INFO(path);
    test::TempDir out("replay_shipped");
    const auto r = test::run_hetsim("run '" + path + "' --out '" + out.str() + "'");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    for (const char* f : {"summary.json", "ranks.csv", "collectives.csv", "resolved.yaml", "timeline.json"})
      CHECK(std::filesystem::exists(out.file(f)));
    CHECK_THAT(r.output, Contains("iteration") && Contains("exposed comm"));
    const auto j = summary_of(out);
    CHECK(j["kind"] == "replay");
    CHECK(j["replay"]["iteration_time_s"].get<double>() > 0);
    CHECK(!test::read_csv(out.file("ranks.csv")).empty());
    const auto v = test::run_hetsim("validate '" + path + "'");
    INFO(v.output);
    CHECK(v.exit_code == 0);
    CHECK_THAT(v.output, Contains("OK") && Contains("replay"));
  }
}

TEST_CASE("replay cli: the ASTRA-sim all-reduce: 8 ranks, one collective of 1 MiB", "[e2e][replay]") {
  test::TempDir out("replay_astra");
  const auto r = test::run_hetsim("run '" + test::source_dir() + "/scenarios/replay_astra_allreduce_8xh100.yaml' --quiet --out '" +
                                  out.str() + "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto j = summary_of(out);
  CHECK(j["ranks"] == 8);
  CHECK(j["replay"]["collectives"] == 1);
  CHECK(j["replay"]["collective_bytes"].get<double>() == 1048576.0);
  const auto rows = test::read_csv(out.file("ranks.csv"));
  REQUIRE(rows.size() == 8);
  for (const auto& row : rows) CHECK(std::stod(row.at("compute_s")) == 0.0);
}

TEST_CASE("replay cli: same scenario twice gives byte-identical results", "[e2e][replay][determinism]") {
  test::TempDir a("replay_det_a"), b("replay_det_b");
  REQUIRE(test::run_hetsim("run '" + feeder_scenario() + "' --quiet --out '" + a.str() + "'").exit_code == 0);
  REQUIRE(test::run_hetsim("run '" + feeder_scenario() + "' --quiet --out '" + b.str() + "'").exit_code == 0);
  for (const char* f : {"summary.json", "ranks.csv", "collectives.csv", "timeline.json"}) {
    INFO(f);
    CHECK(test::read_file(a.file(f)) == test::read_file(b.file(f)));
  }
}

TEST_CASE("replay cli: a what-if on a faster device is faster, on the same device unchanged", "[e2e][replay]") {
  test::TempDir base("replay_base"), fast("replay_fast");
  const auto r0 = test::run_hetsim("run '" + feeder_scenario() + "' --quiet --out '" + base.str() + "'");
  INFO(r0.output);
  REQUIRE(r0.exit_code == 0);
  const auto r1 = test::run_hetsim("run '" + feeder_scenario() + "' --quiet --out '" + fast.str() +
                                   "' --set cluster.device=b200-192gb --set replay.recorded_on=h100-sxm5-80gb");
  INFO(r1.output);
  REQUIRE(r1.exit_code == 0);
  const auto j0 = summary_of(base), j1 = summary_of(fast);
  CHECK(j0["compute_scale"]["gemm"] == 1.0);
  CHECK(j1["compute_scale"]["gemm"].get<double>() < 1.0);
  CHECK(j1["compute_scale"]["elementwise"].get<double>() < 1.0);
  CHECK(j1["replay"]["iteration_time_s"].get<double>() < j0["replay"]["iteration_time_s"].get<double>());
  CHECK(j1["replay"]["mean_per_rank"]["compute_s"].get<double>() < j0["replay"]["mean_per_rank"]["compute_s"].get<double>());
}

TEST_CASE("replay cli: bad replay input is one error naming the key, exit 2", "[e2e][replay]") {
  const std::string f = "'" + test::source_dir() + "/scenarios/replay_astra_allreduce_8xh100.yaml'";
  struct Case {
    std::string set, expect;
  };
  const std::vector<Case> cases = {
      {"replay.format=json", "replay.format"},
      {"replay.traces=/nonexistent/x.{rank}.et", "replay.traces"},
      {"replay.ranks=0", "replay.ranks"},
      {"replay.ranks=16", "replay.mirror"},
      {"replay.iterations=0", "replay.iterations"},
      {"replay.dtype=fp7", "replay.dtype"},
      {"replay.recorded_on=no-such-gpu", "recorded_on"},
      {"replay.colour=red", "replay.colour"},
      {"cluster.device=b200-192gb", "cluster.device"},
      // Paths longer than the OS allows are "no such file", not a filesystem_error (a fuzz finding).
      {"replay.traces=/" + std::string(5000, 'x') + ".{rank}.et", "replay.traces"},
      {"replay.traces=/" + std::string(5000, 'x') + ".et", "replay.traces"},
  };
  for (const auto& c : cases) {
    INFO(c.set);
    const auto r = test::run_hetsim("run " + f + " --quiet --out /tmp/hetsim_replay_bad --set " + c.set);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains(c.expect));
  }
  // Mirror mode: 16 ranks from 8 files, rank r replaying file r mod 8, over two nodes.
  test::TempDir out("replay_mirror");
  const auto m = test::run_hetsim("run " + f + " --quiet --out '" + out.str() +
                                  "' --set replay.ranks=16 --set replay.mirror=true --set cluster.fabric.kind=rail "
                                  "--set 'cluster.fabric.uplink_bandwidth=25.6 Tbps'");
  INFO(m.output);
  CHECK(m.exit_code == 0);
}

TEST_CASE("replay cli: a Kineto trace on its own hardware with host launch times reproduces its measured span",
          "[e2e][replay][kineto]") {
  // The recording, read independently of the engine: its GPU span and its compute kernels' time.
  const auto trace = exec_trace::read_kineto_trace(test::shared_data() + "/kineto_hta/a100_2rank_nccl.json.gz");
  double first = 1e300, last = 0, compute = 0;
  for (const auto& op : trace.ops) {
    first = std::min(first, op.start);
    last = std::max(last, op.start + op.duration);
    if (op.kind == exec_trace::TraceOpKind::compute) compute += op.duration;
  }
  const double measured = last - first;
  REQUIRE(measured > 0.5);  // 660.55 ms: a host-bound step (118 ms of compute kernels)
  const std::string scenario = test::source_dir() + "/scenarios/replay_kineto_a100_2rank.yaml";
  test::TempDir a("replay_kineto_host"), b("replay_kineto_free");
  REQUIRE(test::run_hetsim("run --quiet '" + scenario + "' --out '" + a.str() + "'").exit_code == 0);
  const double replayed = summary_of(a)["replay"]["iteration_time_s"].get<double>();
  CHECK(replayed == Approx(measured).epsilon(0.005));
  // Without the recorded launch times the GPU runs back to back: never below its compute kernels,
  // never above the host-bound replay.
  REQUIRE(test::run_hetsim("run --quiet '" + scenario + "' --out '" + b.str() + "' --set replay.host_issue=false").exit_code == 0);
  const double free = summary_of(b)["replay"]["iteration_time_s"].get<double>();
  CHECK(free >= compute * (1 - 1e-9));
  CHECK(free <= replayed);
}

TEST_CASE("replay cli: a shipped trace path without HETSIM_SHARED_DATA is one error naming the key, exit 2",
          "[e2e][replay]") {
  const std::string scenario = test::source_dir() + "/scenarios/replay_kineto_a100_2rank.yaml";
  const auto r = test::run_command("env -u HETSIM_SHARED_DATA '" + std::string(HETSIM_BIN) + "' validate '" + scenario + "'");
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("replay.traces"));
  CHECK_THAT(r.output, Contains("HETSIM_SHARED_DATA"));
}
