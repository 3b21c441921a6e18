// Coalescing on and off give the same bytes in every result file, on runs long enough for
// thousands of steps to run ahead of the clock (the golden test checks the small shipped cases).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>

#include "support.hpp"

using namespace hetsim;
namespace fs = std::filesystem;

namespace {
void check_identical(const std::string& tag, const std::string& args) {
  test::TempDir dir(tag);
  auto run = [&](const std::string& name, const std::string& extra) {
    const auto r = test::run_command("cd '" + test::source_dir() + "' && '" + HETSIM_BIN + "' run --quiet " + args +
                                     " --out '" + dir.file(name) + "'" + extra);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
  };
  run("on", "");
  run("off", " --no-coalesce");
  std::size_t files = 0;
  for (const auto& f : fs::directory_iterator(dir.file("on"))) {
    const std::string name = f.path().filename().string();
    INFO(name);
    REQUIRE(fs::exists(dir.file("off") + "/" + name));
    CHECK(test::read_file(f.path().string()) == test::read_file(dir.file("off") + "/" + name));
    ++files;
  }
  CHECK(files >= 5);
}
}  // namespace

TEST_CASE("coalescing: byte-identical results on a long run with every output", "[e2e][coalescing]") {
  check_identical("coalesce_qs", "scenarios/quickstart.yaml --set workload.num_requests=3000 --set cluster.replicas=4 "
                                 "--set policies.router.impl=least_outstanding --set output.timeline=true "
                                 "--set output.step_detail=true");
  // A router that reads loads refreshed every 200 ms: the refreshes bound a run ahead too.
  check_identical("coalesce_refresh", "scenarios/quickstart.yaml --set workload.num_requests=3000 --set cluster.replicas=4 "
                                      "--set policies.router.impl=least_outstanding --set policies.router.refresh=200ms");
}

TEST_CASE("coalescing: byte-identical results on a mixed fleet with chunked prefill", "[e2e][coalescing]") {
  check_identical("coalesce_mixed", "scenarios/mixed_fleet.yaml --set workload.num_requests=1500 "
                                    "--set policies.scheduler.impl=sarathi");
}

TEST_CASE("coalescing: byte-identical results under KV pressure (preemptions), where steady decodes must stop",
          "[e2e][coalescing]") {
  // Steady decodes (Replica::run_steady_decodes) run pure-decode steps without the scheduler only
  // while every sequence has a free block to grow into; a 2 GiB cache at 8 requests/s preempts.
  const std::string tight = "scenarios/quickstart.yaml --set workload.num_requests=1500 --set workload.arrival.rate=8 "
                            "--set policies.kv_cache.kv_cache_memory=\"2 GiB\"";
  check_identical("coalesce_kv_vllm", tight);
  check_identical("coalesce_kv_sarathi", tight + " --set policies.scheduler.impl=sarathi --set "
                                                 "policies.scheduler.max_num_batched_tokens=512");
  // Three long generations that outgrow a 400 MiB cache with nothing waiting: a running sequence
  // must be evicted at a block boundary, which only the scheduler may do.
  check_identical("coalesce_kv_grow", "scenarios/quickstart.yaml --set cluster.replicas=1 --set workload.num_requests=3 "
                                      "--set workload.arrival.rate=1000 --set workload.prompt_tokens=100 --set "
                                      "workload.output_tokens=1500 --set policies.kv_cache.kv_cache_memory=\"400 MiB\"");
  test::TempDir dir("coalesce_kv_check");
  const auto r = test::run_command("cd '" + test::source_dir() + "' && '" + HETSIM_BIN + "' run --quiet " + tight +
                                   " --out '" + dir.file("out") + "'");
  REQUIRE(r.exit_code == 0);
  const auto summary = nlohmann::json::parse(test::read_file(dir.file("out") + "/summary.json"));
  CHECK(summary["preemptions"].get<std::int64_t>() > 0);
}

TEST_CASE("coalescing: byte-identical results with an autoscaler, cold starts and migrations draining instances",
          "[e2e][coalescing]") {
  // Timer-only controllers let steps run ahead up to their next look; cold starts and migrations
  // stop every run ahead while they cross the network. A 40-minute day swinging every 20 minutes
  // starts and drains instances several times.
  const std::string day = "scenarios/autoscale_day.yaml --set workload.duration=40min --set "
                          "workload.arrival.swing.period=20min --set workload.arrival.swing.peak_at=10min";
  check_identical("coalesce_autoscale", day);
  check_identical("coalesce_autoscale_peer", day + " --set 'policies.controllers=[{impl: migrate_drain}, {impl: autoscale, "
                                                   "target: 12, scale_down_delay: 1 min, cold_start: {peer: true, startup: 5 s}}]'");
  check_identical("coalesce_rebalance", "scenarios/llumnix_migration.yaml --set 'policies.controllers=[{impl: "
                                        "migrate_load_balance, interval: 100 ms}, {impl: migrate_drain}, {impl: autoscale, "
                                        "target: 4, min: 2, interval: 1 s}]'");
  test::TempDir dir("coalesce_autoscale_check");
  const auto r = test::run_command("cd '" + test::source_dir() + "' && '" + HETSIM_BIN + "' run --quiet " + day + " --out '" +
                                   dir.file("out") + "'");
  REQUIRE(r.exit_code == 0);
  const auto summary = nlohmann::json::parse(test::read_file(dir.file("out") + "/summary.json"));
  CHECK(summary["scaling"]["starts"].get<int>() >= 3);
  CHECK(summary["scaling"]["drains"].get<int>() >= 3);
  CHECK(summary["migrations"]["done"].get<int>() >= 5);
}
