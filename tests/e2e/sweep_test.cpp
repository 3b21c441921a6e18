// Sweeps through the hetsim binary: points.csv, resumption, sharding (environment and a real
// mpirun), merge, SLURM script, max-rate search.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>
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
                           Contains("expected an integer >= 1"));
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

TEST_CASE("sweep: a search on SLO attainment (DistServe's goodput) brackets the 90% boundary", "[e2e][sweep][search]") {
  test::TempDir dir("sweep_attainment");
  const auto spec = dir.write(
      "spec.yaml", fmt::format("base: {}/scenarios/quickstart.yaml\nset: {{workload.num_requests: 200}}\n"
                               "search: {{axis: workload.arrival.rate, lo: 0.5, hi: 64, tolerance: 0.1, slo: {{attainment: 0.9}}}}\n",
                               test::source_dir()));
  const auto r = sweep("'" + spec + "' --out '" + dir.file("out") + "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("SLO attainment >= 0.9"));
  const auto rows = test::read_csv(dir.file("out/max_rate.csv"));
  REQUIRE(rows.size() == 1);
  REQUIRE(rows[0].at("status") == "ok");
  const double max_rate = std::stod(rows[0].at("max_rate"));
  double lowest_fail = 1e9;
  int probes = 0;
  for (const auto& probe : fs::directory_iterator(dir.file("out/search/p0000"))) {
    const auto point = nlohmann::json::parse(test::read_file((probe.path() / "point.json").string()));
    const double rate = std::stod(point["params"]["workload.arrival.rate"].get<std::string>());
    const auto s = nlohmann::json::parse(test::read_file((probe.path() / "summary.json").string()));
    const bool ok = s["goodput"]["slo_attainment"].get<double>() >= 0.9 && s["requests"]["rejected"].get<long>() == 0;
    if (rate <= max_rate) CHECK(ok);
    if (!ok) lowest_fail = std::min(lowest_fail, rate);
    ++probes;
  }
  CHECK(probes >= 4);
  CHECK(lowest_fail > max_rate);
  CHECK(lowest_fail <= max_rate * 1.1 + 1e-9);

  // A scenario without an slo section has no attainment to search on: one clear error.
  std::string base = test::read_file(test::source_dir() + "/scenarios/quickstart.yaml");
  base = base.substr(0, base.find("slo:"));
  dir.write("no_slo.yaml", base);
  const auto no_slo = dir.write("no_slo_spec.yaml", "base: no_slo.yaml\nset: {workload.num_requests: 50}\n"
                                                    "search: {axis: workload.arrival.rate, lo: 0.5, hi: 4, slo: {attainment: 0.9}}\n");
  const auto bad = sweep("'" + no_slo + "' --out '" + dir.file("bad") + "'");
  INFO(bad.output);
  CHECK(bad.exit_code != 0);
  CHECK_THAT(bad.output, Contains("search.slo.attainment needs the scenario's slo section"));
}

namespace {
/// A 2-point sweep over a copy of the quickstart scenario in `dir` (so a test can edit it).
std::string write_local_sweep(const test::TempDir& dir) {
  dir.write("base.yaml", test::read_file(test::source_dir() + "/scenarios/quickstart.yaml"));
  return dir.write("spec.yaml", "base: base.yaml\naxes:\n  cluster.replicas: [1, 2]\nset: {workload.num_requests: 60}\n");
}
void replace_in_file(const std::string& path, const std::string& from, const std::string& to) {
  std::string text = test::read_file(path);
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), to);
  std::ofstream(path, std::ios::binary) << text;
}
}  // namespace

TEST_CASE("sweep: a resume after the base scenario changed is refused, and --restart runs it again", "[e2e][sweep]") {
  test::TempDir dir("sweep_base_changed");
  const auto spec = write_local_sweep(dir);
  const std::string out = dir.file("out");
  REQUIRE(sweep("'" + spec + "' --quiet -j 2 --out '" + out + "'").exit_code == 0);
  const auto before = test::read_file(dir.file("out/points.csv"));
  replace_in_file(dir.file("base.yaml"), "seed: 1", "seed: 2");
  const auto r = sweep("'" + spec + "' -j 2 --out '" + out + "'");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("inputs changed") && Contains(fs::path(dir.file("base.yaml")).lexically_normal().string() + " changed") &&
                           Contains("--restart") && Contains("new --out"));
  CHECK(test::read_file(dir.file("out/points.csv")) == before);  // nothing ran, nothing rewritten
  // The spec's own text counts too.
  std::ofstream(spec, std::ios::app) << "# a note\n";
  replace_in_file(dir.file("base.yaml"), "seed: 2", "seed: 1");
  const auto r2 = sweep("'" + spec + "' -j 2 --out '" + out + "'");
  CHECK(r2.exit_code == 2);
  CHECK_THAT(r2.output, Contains("the spec " + fs::path(spec).lexically_normal().string() + " changed"));
  replace_in_file(dir.file("base.yaml"), "seed: 1", "seed: 2");
  const auto fresh = sweep("'" + spec + "' -j 2 --restart --out '" + out + "'");
  REQUIRE(fresh.exit_code == 0);
  CHECK_THAT(fresh.output, !Contains("already done"));
  CHECK_THAT(test::read_file(dir.file("out/points/p0000/resolved.yaml")), Contains("seed: 2"));
  CHECK(sweep("'" + spec + "' -j 2 --out '" + out + "'").exit_code == 0);  // and now resumes
}

TEST_CASE("sweep: a resume after a catalog file the scenario uses changed is refused", "[e2e][sweep]") {
  test::TempDir dir("sweep_catalog_changed");
  const std::string home = dir.file("home");
  fs::create_directories(home);
  for (const char* folder : {"hw", "models"})
    fs::copy(test::source_dir() + "/" + folder, home + "/" + folder, fs::copy_options::recursive);
  const auto spec = write_local_sweep(dir);
  const std::string run = "HETSIM_HOME='" + home + "' '" + HETSIM_BIN + "' sweep '" + spec + "' -j 2 --out '" + dir.file("out") + "'";
  REQUIRE(test::run_command(run + " --quiet").exit_code == 0);
  CHECK(test::read_csv(dir.file("out/points.csv"))[0].at("cost_per_hour") == "3.24");
  // An unrelated catalog file does not matter; the device preset the scenario names does.
  std::ofstream(home + "/hw/catalog/a100-sxm4-80gb.yaml", std::ios::app) << "# edited\n";
  REQUIRE(test::run_command(run).exit_code == 0);
  const std::string device = fs::path(home + "/hw/catalog/h100-sxm5-80gb.yaml").lexically_normal().string();
  replace_in_file(device, "cost_per_hour: 3.24", "cost_per_hour: 4.00");
  const auto r = test::run_command(run);
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains(device + " changed") && Contains("effective configuration (resolved.yaml) of 2 point(s) changed"));
  CHECK(test::read_csv(dir.file("out/points.csv"))[0].at("cost_per_hour") == "3.24");
}

TEST_CASE("sweep: an unchanged resume resumes byte-identically", "[e2e][sweep]") {
  test::TempDir dir("sweep_unchanged");
  const auto spec = write_spec(dir);
  REQUIRE(sweep("'" + spec + "' --quiet -j 2 --out '" + dir.file("out") + "'").exit_code == 0);
  const auto full = test::read_file(dir.file("out/points.csv"));
  const auto inputs = nlohmann::json::parse(test::read_file(dir.file("out/inputs.json")));
  CHECK(inputs["files"].contains(fs::path(test::source_dir() + "/scenarios/quickstart.yaml").lexically_normal().string()));
  CHECK(inputs["points"].size() == 8);
  // As if killed before p0003 and p0006 finished.
  fs::remove_all(dir.file("out/points/p0003"));
  fs::remove_all(dir.file("out/points/p0006"));
  fs::remove(dir.file("out/points.csv"));
  const auto r = sweep("'" + spec + "' -j 2 --out '" + dir.file("out") + "'");
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("6 point(s) already done, skipped") && Contains("8 of 8 points ok;"));
  CHECK(test::read_file(dir.file("out/points.csv")) == full);
}

TEST_CASE("sweep: failed points are counted in the final line and the exit code", "[e2e][sweep]") {
  test::TempDir dir("sweep_failures");
  const auto spec = write_local_sweep(dir);
  const std::string out = dir.file("out");
  REQUIRE(sweep("'" + spec + "' --quiet -j 2 --out '" + out + "'").exit_code == 0);
  // p0001 cannot run: its result folder's lock is a directory.
  fs::remove_all(dir.file("out/points/p0001"));
  fs::create_directories(dir.file("out/points/p0001.lock"));
  const auto r = sweep("'" + spec + "' -j 2 --out '" + out + "'");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("sweep: 1 of 2 points ok, 1 failed (p0001; log: " + dir.file("out/points/p0001/log.txt") + ")"));
  CHECK_THAT(r.output, !Contains("2 of 2 points ok"));
  const auto rows = test::read_csv(dir.file("out/points.csv"));
  REQUIRE(rows.size() == 2);
  CHECK(rows[1].at("status") == "failed");
  // Quiet still reports failures.
  const auto quiet = sweep("'" + spec + "' --quiet -j 2 --out '" + out + "'");
  CHECK(quiet.exit_code == 1);
  CHECK_THAT(quiet.output, Contains("1 failed"));
  // Fixed: the failed point runs again and the sweep succeeds.
  fs::remove(dir.file("out/points/p0001.lock"));
  const auto again = sweep("'" + spec + "' -j 2 --out '" + out + "'");
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.output, Contains("2 of 2 points ok;"));
}
