// Sweeps through the hetsim binary: points.csv, resumption, sharding (environment and a real
// mpirun), merge, SLURM script, max-rate search.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <thread>
#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace hetsim;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {
/// A sweep over the quickstart scenario, small enough for the test suite.
std::string write_spec(const test::TempDir& dir, const std::string& extra = "") {
  return dir.write("spec.yaml", fmt::format("base: {}/scenarios/quickstart.yaml\n"
                                            "axes:\n  workload.arrival.rate: [2, 16]\n  policies.scheduler.impl: [vllm, sarathi]\n"
                                            "  cluster.replicas: range(1, 3)\n"
                                            "set: {{workload.num_requests: 120}}\n{}",
                                            test::source_dir(), extra));
}
test::CommandResult sweep(const std::string& args) {
  auto r = test::run_hetsim("sweep " + args);
  INFO(r.output);
  return r;
}
}  // namespace

TEST_CASE("sweep: every point runs and points.csv holds parameters and metrics", "[e2e][sweep]") {
  test::TempDir dir("sweep_basic");
  const auto r = sweep("'" + write_spec(dir) + "' --out '" + dir.file("out") + "' -j 2");
  REQUIRE(r.exit_code == 0);
  const auto rows = test::read_csv(dir.file("out/points.csv"));
  REQUIRE(rows.size() == 8);
  CHECK(rows[0].at("point") == "p0000");
  CHECK(rows[0].at("workload.arrival.rate") == "2");
  CHECK(rows[1].at("cluster.replicas") == "2");
  for (const auto& row : rows) {
    CHECK(row.at("status") == "ok");
    CHECK(row.at("completed") == "120");
    CHECK(std::stod(row.at("ttft_p90")) > 0);
    CHECK(std::stod(row.at("cost_per_hour")) == Approx(3.24 * std::stod(row.at("cluster.replicas"))));
  }
  const auto desc = nlohmann::json::parse(test::read_file(dir.file("out/sweep.json")));
  CHECK(desc["axes"][0]["key"] == "workload.arrival.rate");
  CHECK(desc["axes"][0]["values"][1] == 16);
  CHECK(desc["slo"]["ttft"] == Approx(0.5));
}

TEST_CASE("sweep: a bad axis value is reported against the sweep file before anything runs", "[e2e][sweep]") {
  test::TempDir dir("sweep_bad");
  const auto spec = dir.write("spec.yaml", fmt::format("base: {}/scenarios/quickstart.yaml\naxes:\n  cluster.replicas: [1, 0]\n",
                                                       test::source_dir()));
  const auto r = sweep("'" + spec + "' --out '" + dir.file("out") + "'");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("sweep point p0001 (cluster.replicas=0)") && Contains("spec.yaml:3: axes.cluster.replicas[1] = 0") &&
                           Contains("[1, 100000]"));
  CHECK_FALSE(fs::exists(dir.file("out/points")));
  const auto typo = dir.write("typo.yaml", fmt::format("base: {}/scenarios/quickstart.yaml\naxes:\n  cluster.replicaz: [1, 2]\n",
                                                       test::source_dir()));
  const auto r2 = sweep("'" + typo + "' --out '" + dir.file("out2") + "'");
  CHECK(r2.exit_code == 2);
  CHECK_THAT(r2.output, Contains("typo.yaml:3: axes.cluster.replicaz[0]: unknown key 'replicaz'") && Contains("did you mean 'replicas'"));
}

TEST_CASE("sweep: a killed sweep resumes to the same points.csv as an uninterrupted one", "[e2e][sweep]") {
  test::TempDir dir("sweep_resume");
  const auto spec = write_spec(dir);
  REQUIRE(sweep("'" + spec + "' --quiet --out '" + dir.file("full") + "'").exit_code == 0);
  // Start the sweep in its own process group, wait until its first point has finished, then kill
  // the whole group (parent and running child) as a Ctrl-C or a node failure would.
  const std::string pidfile = dir.file("pid");
  const std::string cmd = fmt::format("setsid sh -c 'echo $$ > \"{}\"; exec \"{}\" sweep \"{}\" --quiet -j 1 --out \"{}\"' >/dev/null 2>&1 &",
                                      pidfile, HETSIM_BIN, spec, dir.file("resumed"));
  REQUIRE(std::system(cmd.c_str()) == 0);
  auto finished_points = [&] {
    std::size_t n = 0;
    std::error_code ec;
    for (const auto& p : fs::directory_iterator(dir.file("resumed/points"), ec)) n += fs::exists(p.path() / "summary.json");
    return n;
  };
  for (int i = 0; i < 3000 && finished_points() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  REQUIRE(std::system(("/bin/kill -KILL -- -$(cat '" + pidfile + "')").c_str()) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const std::size_t finished = finished_points();
  INFO("finished before the kill: " << finished);
  CHECK(finished >= 1);
  CHECK(finished < 8);
  CHECK_FALSE(fs::exists(dir.file("resumed/points.csv")));
  const auto r = sweep("'" + spec + "' --out '" + dir.file("resumed") + "'");
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains(fmt::format("{} point(s) already done, skipped", finished)) || Contains("0 point"));
  CHECK(test::read_file(dir.file("resumed/points.csv")) == test::read_file(dir.file("full/points.csv")));
}

TEST_CASE("sweep: shards from the environment merge into the single-process result", "[e2e][sweep]") {
  test::TempDir dir("sweep_shards");
  const auto spec = write_spec(dir);
  REQUIRE(sweep("'" + spec + "' --quiet --out '" + dir.file("serial") + "'").exit_code == 0);
  const std::string shard = fmt::format("'{}' sweep '{}' --quiet --out '{}'", HETSIM_BIN, spec, dir.file("sharded"));
  REQUIRE(std::system(("SLURM_ARRAY_TASK_ID=0 SLURM_ARRAY_TASK_COUNT=3 " + shard).c_str()) == 0);
  REQUIRE(std::system(("SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=3 " + shard).c_str()) == 0);
  const auto early = sweep("'" + spec + "' --out '" + dir.file("sharded") + "' --merge");
  CHECK(early.exit_code == 2);
  CHECK_THAT(early.output, Contains("2 of 8 points have not run yet (p0002, p0005)"));
  REQUIRE(std::system(("SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_COUNT=3 " + shard).c_str()) == 0);
  REQUIRE(sweep("'" + spec + "' --out '" + dir.file("sharded") + "' --merge").exit_code == 0);
  CHECK(test::read_file(dir.file("sharded/points.csv")) == test::read_file(dir.file("serial/points.csv")));
  const auto bad = test::run_hetsim("sweep '" + spec + "' --out '" + dir.file("x") + "'");  // sanity: no env, runs serially
  CHECK(bad.exit_code == 0);
}

TEST_CASE("sweep: under mpirun -np 2 the merged result equals the single-process one", "[e2e][sweep][mpi]") {
  REQUIRE(std::system("command -v mpirun >/dev/null") == 0);  // tools/setup.sh installs openmpi-bin
  test::TempDir dir("sweep_mpi");
  const auto spec = write_spec(dir);
  REQUIRE(sweep("'" + spec + "' --quiet --out '" + dir.file("serial") + "'").exit_code == 0);
  const std::string mpi = fmt::format(
      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -np 2 '{}' sweep '{}' --out '{}' > '{}' 2>&1",
      HETSIM_BIN, spec, dir.file("mpi"), dir.file("mpi.log"));
  const int rc = std::system(mpi.c_str());
  INFO(test::read_file(dir.file("mpi.log")));
  REQUIRE(rc == 0);
  CHECK_THAT(test::read_file(dir.file("mpi.log")), Contains("shard 0/2 (OMPI_COMM_WORLD_RANK/OMPI_COMM_WORLD_SIZE)") &&
                                                       Contains("shard 1/2"));
  REQUIRE(sweep("'" + spec + "' --out '" + dir.file("mpi") + "' --merge").exit_code == 0);
  CHECK(test::read_file(dir.file("mpi/points.csv")) == test::read_file(dir.file("serial/points.csv")));
}

TEST_CASE("sweep: --emit-slurm writes a job array script for the spec", "[e2e][sweep]") {
  test::TempDir dir("sweep_slurm");
  const auto spec = write_spec(dir);
  const auto r = sweep("'" + spec + "' --out '" + dir.file("out") + "' --emit-slurm --shards 3");
  REQUIRE(r.exit_code == 0);
  const auto script = test::read_file(dir.file("out/sweep.sbatch"));
  CHECK_THAT(script, Contains("#SBATCH --array=0-2") && Contains("sweep '" + spec + "'") && Contains("-j 1") && Contains("--merge"));
  CHECK(std::system(("bash -n '" + dir.file("out/sweep.sbatch") + "'").c_str()) == 0);
  CHECK_FALSE(fs::exists(dir.file("out/points")));  // nothing ran
}

TEST_CASE("sweep: max-rate search brackets the SLO boundary", "[e2e][sweep][search]") {
  test::TempDir dir("sweep_search");
  const auto spec = dir.write(
      "spec.yaml", fmt::format("base: {}/scenarios/quickstart.yaml\naxes:\n  cluster.replicas: [1, 2]\nset: {{workload.num_requests: 150}}\n"
                               "search: {{axis: workload.arrival.rate, lo: 0.5, hi: 64, tolerance: 0.1,\n"
                               "         slo: {{ttft_p90: 300 ms, tpot_p90: 30 ms}}, target_rate: 6}}\n",
                               test::source_dir()));
  const auto r = sweep("'" + spec + "' --out '" + dir.file("out") + "'");
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("cheapest configuration reaching 6"));
  const auto rows = test::read_csv(dir.file("out/max_rate.csv"));
  REQUIRE(rows.size() == 2);
  for (std::size_t c = 0; c < rows.size(); ++c) {
    REQUIRE(rows[c].at("status") == "ok");
    const double max_rate = std::stod(rows[c].at("max_rate"));
    // Every probe at or below the reported rate met the SLO, every probe above it missed, and the
    // bracket is within the tolerance.
    double lowest_fail = 1e9;
    for (const auto& probe : fs::directory_iterator(dir.file(fmt::format("out/search/p{:04d}", c)))) {
      const auto point = nlohmann::json::parse(test::read_file((probe.path() / "point.json").string()));
      const double rate = std::stod(point["params"]["workload.arrival.rate"].get<std::string>());
      const auto s = nlohmann::json::parse(test::read_file((probe.path() / "summary.json").string()));
      const bool ok = s["latency_s"]["ttft"]["p90"].get<double>() <= 0.3 && s["latency_s"]["tpot"]["p90"].get<double>() <= 0.03;
      if (rate <= max_rate) CHECK(ok);
      if (!ok) lowest_fail = std::min(lowest_fail, rate);
    }
    CHECK(lowest_fail > max_rate);
    CHECK(lowest_fail <= max_rate * 1.1 + 1e-9);
  }
  CHECK(std::stod(rows[1].at("max_rate")) > std::stod(rows[0].at("max_rate")));  // two replicas serve more
  const auto cheapest = nlohmann::json::parse(test::read_file(dir.file("out/cheapest.json")));
  CHECK(cheapest["target_rate"] == 6.0);
}
