// `hetsim report`: plots and an HTML page for a run and for sweeps (serving and training), opened
// in headless Chromium to check that every image loads.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <filesystem>

#include "support.hpp"

using namespace hetsim;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {
/// Every PNG/SVG in DIR/report is non-empty and the page shows all of them in Chromium.
void check_report(const std::string& dir, std::size_t min_plots) {
  const auto r = test::run_hetsim("report '" + dir + "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  std::size_t png = 0, svg = 0;
  for (const auto& f : fs::directory_iterator(dir + "/report")) {
    const auto ext = f.path().extension();
    if (ext == ".png" || ext == ".svg") CHECK(fs::file_size(f.path()) > 1000);
    png += ext == ".png";
    svg += ext == ".svg";
    CHECK(ext != ".tmp");
  }
  CHECK(png >= min_plots);
  CHECK(svg == png);
  const auto html = test::read_file(dir + "/report/index.html");
  CHECK_THAT(html, Contains("<img") && Contains("<table"));
  const auto check = test::run_command(fmt::format("'{}/tools/check_html_images.sh' '{}/report/index.html'", test::source_dir(), dir));
  INFO(check.output);
  CHECK(check.exit_code == 0);
  CHECK_THAT(check.output, Contains(fmt::format("images loaded {}/{}", png, png)));
}
}  // namespace

TEST_CASE("report: a run folder gets latency CDFs, throughput, KV and step-time plots", "[e2e][report]") {
  // From step_windows.csv (the default) and from steps.csv (output.steps: full).
  for (const char* steps : {"windows", "full"}) {
    DYNAMIC_SECTION("output.steps: " << steps) {
      test::TempDir dir("report_run");
      REQUIRE(test::run_hetsim(fmt::format("run '{}/scenarios/quickstart.yaml' --quiet --set workload.num_requests=100 "
                                           "--set output.steps={} --out '{}'",
                                           test::source_dir(), steps, dir.str()))
                  .exit_code == 0);
      check_report(dir.str(), 4);
      for (const char* plot : {"latency_cdf.png", "throughput_queue.png", "kv_utilization.png", "step_breakdown.png"})
        CHECK(fs::exists(dir.file(std::string("report/") + plot)));
    }
  }
}

TEST_CASE("report: a prefix-caching run gets TTFT by cached fraction and its KV tiers over time", "[e2e][report][prefix]") {
  test::TempDir dir("report_kv");
  const auto sc = dir.write("sessions.yaml",
                            "model: llama-3-8b\ncluster: {device: h100-sxm5-80gb, replicas: 1}\n"
                            "policies:\n  kv_cache: {impl: prefix_caching, offload: {tiers: [{tier: host.dram, capacity: 4 GiB}]}}\n"
                            "workload:\n  source: sessions\n  sessions: 40\n  arrival: {rate: 2}\n  turns: 3\n"
                            "  new_tokens: {dist: uniform, min: 50, max: 400}\n  output_tokens: {dist: uniform, min: 20, max: 200}\n"
                            "  think_time: 2 s\n");
  REQUIRE(test::run_hetsim(fmt::format("run '{}' --quiet --out '{}'", sc, dir.file("out"))).exit_code == 0);
  REQUIRE(fs::exists(dir.file("out/kv_tiers.csv")));
  check_report(dir.file("out"), 6);
  for (const char* plot : {"ttft_by_cached_fraction.png", "kv_tiers.png"}) CHECK(fs::exists(dir.file(std::string("out/report/") + plot)));
  const auto html = test::read_file(dir.file("out/report/index.html"));
  CHECK_THAT(html, Contains("host.dram"));
}

TEST_CASE("report: a sweep folder gets metric-vs-axis, SLO attainment and cost/goodput plots", "[e2e][report]") {
  test::TempDir dir("report_sweep");
  const auto spec = dir.write("spec.yaml", fmt::format("base: {}/scenarios/quickstart.yaml\n"
                                                       "axes:\n  workload.arrival.rate: [2, 12]\n  cluster.replicas: [1, 2]\n"
                                                       "set: {{workload.num_requests: 80, output.steps: false}}\n",
                                                       test::source_dir()));
  REQUIRE(test::run_hetsim("sweep '" + spec + "' --quiet --out '" + dir.file("out") + "'").exit_code == 0);
  check_report(dir.file("out"), 3);
  for (const char* plot : {"metrics_vs_axis.png", "slo_attainment.png", "pareto_cost_goodput.png"})
    CHECK(fs::exists(dir.file(std::string("out/report/") + plot)));
}

namespace {
constexpr const char* kSmallTrainingJob = R"(
model: llama-3-8b
cluster: {device: h100-sxm5-80gb, node: hgx-h100}
training:
  seq_len: 2048
  global_batch: 16
  parallel: {tp: 2, pp: 2, dp: 2}
  zero: 1
  iterations: 2
)";
}  // namespace

TEST_CASE("report: a training run folder gets the time breakdown, memory per stage and step-time plots",
          "[e2e][report][training]") {
  test::TempDir dir("report_train_run");
  const auto job = dir.write("job.yaml", kSmallTrainingJob);
  const auto run = test::run_hetsim(fmt::format("run '{}' --quiet --out '{}'", job, dir.file("out")));
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  check_report(dir.file("out"), 3);
  for (const char* plot : {"train_time_breakdown", "train_memory", "train_iterations"})
    for (const char* ext : {".png", ".svg"}) CHECK(fs::exists(dir.file(fmt::format("out/report/{}{}", plot, ext))));
  const auto html = test::read_file(dir.file("out/report/index.html"));
  // 2 stages x 2 replicas: a bar per rank group, named by stage and replica.
  CHECK_THAT(html, Contains("Time breakdown per rank group") && Contains("stage 1 / dp 1") && Contains("PP bubble") &&
                       Contains("MFU") && Contains("HFU") && Contains("tokens/s per GPU") &&
                       Contains("Memory per device by pipeline stage"));
}

TEST_CASE("report: a training sweep gets tokens/s, MFU and peak memory per point, infeasible plans marked",
          "[e2e][report][training]") {
  test::TempDir dir("report_train_sweep");
  dir.write("job.yaml", kSmallTrainingJob);
  const auto spec = dir.write("sweep.yaml", "base: job.yaml\naxes:\n  training.seq_len: [2048, 32768]\n"
                                            "set: {model.max_position_embeddings: 32768}\n");
  const auto sweep = test::run_hetsim(fmt::format("sweep '{}' --out '{}' --quiet -j 1", spec, dir.file("out")));
  INFO(sweep.output);
  REQUIRE(sweep.exit_code == 0);
  check_report(dir.file("out"), 2);
  for (const char* plot : {"train_throughput_by_point", "train_memory_by_point"})
    for (const char* ext : {".png", ".svg"}) CHECK(fs::exists(dir.file(fmt::format("out/report/{}{}", plot, ext))));
  // The serving plots are not drawn for a training sweep.
  CHECK_FALSE(fs::exists(dir.file("out/report/metrics_vs_axis.png")));
  const auto html = test::read_file(dir.file("out/report/index.html"));
  CHECK_THAT(html, Contains("Infeasible points") && Contains("p0001") && Contains("does not fit") &&
                       Contains("the plan does not fit") && Contains("class=\"infeasible\""));
}

TEST_CASE("report: a folder that is neither a run nor a sweep is bad input", "[e2e][report]") {
  test::TempDir dir("report_bad");
  const auto r = test::run_hetsim("report '" + dir.str() + "'");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("error:"));
}
