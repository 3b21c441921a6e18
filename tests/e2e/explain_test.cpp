// `hetsim explain` end to end: every step of real runs (chunked prefill, mixed fleets with TP,
// KV swaps, P/D handoff) repriced from steps.csv is bit-identical to what the run charged; the
// per-op table adds up to the step; bad flags exit 2 with the flag named.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <charconv>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "sim/core/config.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/serving/step_pricer.hpp"
#include "support.hpp"
#include "tools/explain_command.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {
/// The exact double a shortest-round-trip field was printed from.
double exact(const std::string& text) {
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  REQUIRE(ec == std::errc{});
  REQUIRE(end == text.data() + text.size());
  return v;
}
std::int64_t integer(const std::string& text) { return std::stoll(text); }

/// Runs `args` with step detail into DIR/out and reprices every step of steps.csv with the run's
/// resolved scenario; returns the number of steps checked.
std::size_t reprice_every_step(const test::TempDir& dir, const std::string& args) {
  const auto r = test::run_hetsim(fmt::format("run --quiet {} --out '{}' --set output.step_detail=true", args, dir.file("out")));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  auto doc = config::Document::load_file(dir.file("out/resolved.yaml"));
  const sim::Scenario sc = sim::load_scenario(doc);
  std::vector<std::unique_ptr<serving::StepPricer>> pricers;
  for (const auto& p : sc.replicas)
    pricers.push_back(std::make_unique<serving::StepPricer>(sc.model, p.parallel, *p.device, p.placement, *p.stack));
  const auto rows = test::read_csv(dir.file("out/steps.csv"));
  REQUIRE(!rows.empty());
  std::size_t graphed = 0, chunked = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    INFO("steps.csv row " << i + 1);
    models::BatchShape b;
    b.prefill_tokens = integer(row.at("prefill_tokens"));
    b.prefill_chunks = integer(row.at("prefill_chunks"));
    b.prefill_attn_pairs = static_cast<double>(integer(row.at("prefill_attention_pairs")));
    b.prefill_kv_read_tokens = static_cast<double>(integer(row.at("prefill_context_tokens")) + b.prefill_tokens);
    b.logit_tokens = integer(row.at("logit_tokens"));
    b.decode_seqs = integer(row.at("decode_seqs"));
    b.decode_context_tokens = static_cast<double>(integer(row.at("decode_context_tokens")));
    const auto replica = static_cast<std::size_t>(integer(row.at("replica")));
    REQUIRE(replica < pricers.size());
    const serving::StepExplanation x = pricers[replica]->explain(b);
    REQUIRE(x.gpu == exact(row.at("gpu_s")));
    REQUIRE(x.host == exact(row.at("host_s")));
    // The step's span on the clock: its KV copies (if any), then host + GPU.
    const double transfer = row.count("transfer_s") ? exact(row.at("transfer_s")) : 0.0;
    REQUIRE(exact(row.at("duration_s")) == Approx(transfer + x.step).epsilon(1e-9));
    double sum = 0;
    for (const auto& c : x.ops) sum += c.time;
    REQUIRE(sum == x.gpu);
    graphed += x.graphed;
    chunked += b.prefill_chunks > 1 || (b.prefill_chunks > 0 && b.decode_seqs > 0);
  }
  INFO(rows.size() << " steps, " << graphed << " graphed, " << chunked << " mixed or multi-chunk");
  CHECK(graphed > 0);
  return rows.size();
}
}  // namespace

TEST_CASE("explain reprices every step of a run bit-identically", "[e2e][explain]") {
  test::TempDir dir("explain");
  const std::string s = test::source_dir() + "/scenarios/";
  SECTION("vLLM batching, two replicas") { CHECK(reprice_every_step(dir, "'" + s + "quickstart.yaml' --set workload.num_requests=40") > 100); }
  SECTION("chunked prefill mixed with decodes") {
    CHECK(reprice_every_step(dir, "'" + s + "sarathi_long_prompts.yaml' --set workload.num_requests=30") > 100);
  }
  SECTION("a fleet of two devices with tensor parallelism") {
    CHECK(reprice_every_step(dir, "'" + s + "mixed_fleet.yaml' --set workload.num_requests=60") > 100);
  }
  SECTION("KV swapped over the node's links") {
    CHECK(reprice_every_step(dir, "'" + s + "gh200_kv_swap.yaml' --set workload.num_requests=60 --set workload.arrival.rate=20 "
                                  "--set policies.kv_cache.gpu_memory_utilization=0.3 --set policies.preemption.swap_space=4GiB") > 100);
  }
  SECTION("prefill and decode instances") {
    CHECK(reprice_every_step(dir, "'" + s + "pd_disaggregation.yaml' --set workload.num_requests=40") > 50);
  }
}

TEST_CASE("explain CLI: a steps.csv row, the table, and its files", "[e2e][explain]") {
  test::TempDir dir("explain");
  const std::string scenario = test::source_dir() + "/scenarios/sarathi_long_prompts.yaml";
  auto run = test::run_hetsim(fmt::format("run --quiet '{}' --out '{}' --set workload.num_requests=10 --set output.step_detail=true",
                                          scenario, dir.file("run")));
  REQUIRE(run.exit_code == 0);
  const auto rows = test::read_csv(dir.file("run/steps.csv"));
  REQUIRE(rows.size() > 20);
  const std::size_t n = rows.size() / 2;
  const auto r = test::run_hetsim(fmt::format("explain '{}' --steps '{}' --row {} --out '{}'", dir.file("run/resolved.yaml"),
                                              dir.file("run/steps.csv"), n, dir.file("explain")));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("bit-identical"));
  CHECK_THAT(r.output, Contains("gate_up_proj"));
  CHECK_THAT(r.output, Contains("profile h100-vidur"));
  const auto j = nlohmann::json::parse(test::read_file(dir.file("explain/explain.json")));
  CHECK(j["gpu_s"].get<double>() == exact(rows[n - 1].at("gpu_s")));
  CHECK(j["host_s"]["total"].get<double>() == exact(rows[n - 1].at("host_s")));
  CHECK(j["peak_flops"]["bf16"].get<double>() > 0);
  // The table's op times add up, in order, to the step's GPU time.
  double sum = 0;
  for (const auto& op : test::read_csv(dir.file("explain/explain.csv"))) {
    sum += exact(op.at("time_s"));
    const double overhead = exact(op.at("overhead_s"));
    CHECK(overhead >= 0);
    const double fraction = exact(op.at("roofline_fraction"));
    CHECK((fraction > 0 && fraction <= 1.0 + 1e-12));  // no op beats its roofline
  }
  CHECK(sum == j["gpu_s"].get<double>());
  // hetsim report draws the ops on the device's roofline.
  const auto report = test::run_hetsim(fmt::format("report '{}'", dir.file("explain")));
  INFO(report.output);
  CHECK(report.exit_code == 0);
  for (const char* f : {"roofline.png", "roofline.svg", "step_time.png", "index.html"})
    CHECK(std::filesystem::exists(dir.file(std::string("explain/report/") + f)));
}

TEST_CASE("explain of a hand-made batch follows the batch", "[e2e][explain]") {
  const std::string scenario = "'" + test::source_dir() + "/scenarios/quickstart.yaml'";
  auto step_us = [&](const std::string& flags) {
    const auto r = test::run_hetsim("explain " + scenario + " " + flags);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    const auto at = r.output.find("\nstep ");
    REQUIRE(at != std::string::npos);
    return std::stod(r.output.substr(r.output.find_first_of("0123456789", at)));
  };
  // More context makes decode attention read more KV; more sequences cost more; TP2 is faster.
  const double short_ctx = step_us("--decode 64@512"), long_ctx = step_us("--decode 64@4096");
  CHECK(long_ctx > short_ctx);
  CHECK(step_us("--decode 128@512") > short_ctx);
  CHECK(step_us("--prefill 2048 --tp 2") < step_us("--prefill 2048"));
  // A chunk after cached context attends to more pairs than the same chunk alone.
  CHECK(step_us("--prefill 1024@4096:partial") > step_us("--prefill 1024:partial"));
}

TEST_CASE("explain: bad flags exit 2 naming the flag", "[e2e][explain]") {
  test::TempDir dir("explain");
  const std::string scenario = "'" + test::source_dir() + "/scenarios/quickstart.yaml'";
  auto fails = [&](const std::string& flags, const std::string& message) {
    const auto r = test::run_hetsim("explain " + scenario + " " + flags);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains(message));
  };
  fails("", "no batch");
  fails("--prefill x12", "--prefill x12: expected C[@P]");
  fails("--prefill 0", "--prefill 0:");
  fails("--decode 8", "--decode 8: expected N@CTX");
  fails("--decode 8@-3", "--decode 8@-3");
  fails("--decode 8@100 --tp 3", "--tp 3:");
  fails("--decode 8@100 --pool nope", "--pool nope: expected a pool of the scenario: h100-sxm5-80gb");
  fails("--steps '" + dir.file("missing.csv") + "' --row 1", "missing.csv");
  // A steps.csv written without step detail cannot be repriced.
  REQUIRE(test::run_hetsim(fmt::format("run --quiet {} --out '{}' --set workload.num_requests=5 --set output.steps=full", scenario,
                                       dir.file("plain")))
              .exit_code == 0);
  fails(fmt::format("--steps '{}' --row 1", dir.file("plain/steps.csv")), "output.step_detail=true");
  // ... and a step of another scenario does not match this one.
  REQUIRE(test::run_hetsim(fmt::format("run --quiet {} --out '{}' --set workload.num_requests=5 --set output.step_detail=true "
                                       "--set cluster.device=a100-sxm4-80gb",
                                       scenario, dir.file("a100")))
              .exit_code == 0);
  fails(fmt::format("--steps '{}' --row 1", dir.file("a100/steps.csv")), "is the file from a run of this scenario");
  fails(fmt::format("--steps '{}' --row 100000", dir.file("a100/steps.csv")), "--row 100000");
  fails(fmt::format("--steps '{}' --row 1 --decode 1@1", dir.file("a100/steps.csv")), "drop --prefill");
}

TEST_CASE("output.step_detail needs steps.csv", "[e2e][explain]") {
  const auto r = test::run_hetsim("validate '" + test::source_dir() +
                                  "/scenarios/quickstart.yaml' --set output.steps=false --set output.step_detail=true");
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("output.step_detail"));
}

TEST_CASE("parse_batch builds the shape the replica would", "[explain]") {
  const models::BatchShape b = tools::parse_batch({"100@50", "20:partial"}, {"3@9"});
  models::BatchShape want;
  want.add_prefill(100, 50, true);
  want.add_prefill(20, 0, false);
  for (int i = 0; i < 3; ++i) want.add_decode(10);
  CHECK(b.prefill_tokens == want.prefill_tokens);
  CHECK(b.prefill_chunks == 2);
  CHECK(b.prefill_attn_pairs == want.prefill_attn_pairs);
  CHECK(b.prefill_kv_read_tokens == want.prefill_kv_read_tokens);
  CHECK(b.logit_tokens == 4);
  CHECK(b.decode_context_tokens == 30);
}
