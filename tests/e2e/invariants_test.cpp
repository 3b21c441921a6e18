// Engine invariants checked on whole runs through the CLI: conservation of requests and tokens,
// KV capacity under memory pressure, rejection instead of hangs, Little's law.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {

std::string write_scenario(const test::TempDir& dir, const std::string& body) {
  return dir.write("scenario.yaml", "model: llama-3-8b\ncluster: {device: h100-sxm5-80gb, replicas: 2}\n" + body);
}

test::CommandResult run(const std::string& scenario, const test::TempDir& dir, const std::string& extra = "") {
  // Full steps.csv: the invariants are checked on every step.
  auto r = test::run_hetsim("run --quiet '" + scenario + "' --out '" + dir.file("out") + "' --set output.steps=full " + extra);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return r;
}

double num(const std::map<std::string, std::string>& row, const char* key) { return std::stod(row.at(key)); }

}  // namespace

TEST_CASE("invariants: requests and tokens are conserved on a trace replay", "[e2e][invariants]") {
  test::TempDir dir("conserve");
  // A Mooncake-format trace with known lengths.
  std::string trace;
  std::int64_t prompt_sum = 0, output_sum = 0;
  for (int i = 0; i < 300; ++i) {
    const int in = 50 + (i * 37) % 3000, out = 1 + (i * 13) % 300;
    prompt_sum += in;
    output_sum += out;
    trace += fmt::format("{{\"timestamp\": {}, \"input_length\": {}, \"output_length\": {}, \"hash_ids\": []}}\n", i * 100, in, out);
  }
  dir.write("trace.jsonl", trace);
  const auto scenario = write_scenario(dir, "workload: {source: mooncake, file: trace.jsonl}\n");
  run(scenario, dir);
  const auto requests = test::read_csv(dir.file("out/requests.csv"));
  REQUIRE(requests.size() == 300);
  std::int64_t in = 0, out = 0;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const auto& r = requests[i];
    CHECK(r.at("status") == "completed");
    CHECK(num(r, "arrival_s") == Approx(0.1 * static_cast<double>(i)));
    CHECK(num(r, "first_scheduled_s") >= num(r, "arrival_s"));
    CHECK(num(r, "first_token_s") > num(r, "first_scheduled_s"));
    CHECK(num(r, "completion_s") >= num(r, "first_token_s"));
    in += std::stoll(r.at("prompt_tokens"));
    out += std::stoll(r.at("output_tokens"));
  }
  CHECK(in == prompt_sum);
  CHECK(out == output_sum);
  // Without preemption every prompt token is prefilled once and every later token decoded once.
  const auto steps = test::read_csv(dir.file("out/steps.csv"));
  std::int64_t prefill = 0, decode = 0;
  for (const auto& s : steps) prefill += std::stoll(s.at("prefill_tokens")), decode += std::stoll(s.at("decode_seqs"));
  CHECK(prefill == prompt_sum);
  CHECK(decode == output_sum - 300);
  // The per-replica summary splits the same totals.
  const auto summary = nlohmann::json::parse(test::read_file(dir.file("out/summary.json")));
  std::int64_t completed = 0, prefill_sum = 0;
  for (const auto& rep : summary["replicas"]) {
    completed += rep["completed"].get<std::int64_t>();
    prefill_sum += rep["prefill_tokens"].get<std::int64_t>();
    CHECK(rep["busy_fraction"].get<double>() > 0);
    CHECK(rep["busy_fraction"].get<double>() <= 1.0);
  }
  CHECK(completed == 300);
  CHECK(prefill_sum == prompt_sum);
}

TEST_CASE("invariants: KV blocks in use never exceed capacity under memory pressure", "[e2e][invariants]") {
  for (const char* scheduler : {"vllm", "sarathi"}) {
    INFO(scheduler);
    test::TempDir dir("kvcap");
    // 25% of 80 GB minus 16 GB of weights and 1 GiB reserve leaves ~1,400 blocks (~22k tokens) per replica.
    const auto scenario = write_scenario(
        dir, fmt::format("policies:\n  scheduler: {{impl: {}}}\n  kv_cache: {{gpu_memory_utilization: 0.25}}\n"
                         "workload:\n  source: synthetic\n  num_requests: 400\n  arrival: {{rate: 40}}\n"
                         "  prompt_tokens: {{dist: uniform, min: 500, max: 4000}}\n  output_tokens: {{dist: uniform, min: 100, max: 1500}}\n",
                         scheduler));
    run(scenario, dir);
    const auto steps = test::read_csv(dir.file("out/steps.csv"));
    std::int64_t peak = 0, total = 0;
    for (const auto& s : steps) {
      const std::int64_t used = std::stoll(s.at("kv_blocks_used"));
      total = std::stoll(s.at("kv_blocks_total"));
      REQUIRE(used <= total);
      peak = std::max(peak, used);
    }
    CHECK(peak > total * 9 / 10);  // the cache really was under pressure
    const auto summary = nlohmann::json::parse(test::read_file(dir.file("out/summary.json")));
    CHECK(summary["preemptions"].get<int>() > 0);
    CHECK(summary["requests"]["completed"].get<int>() == 400);
  }
}

TEST_CASE("invariants: requests that can never fit are rejected with a reason, the run still ends", "[e2e][invariants]") {
  test::TempDir dir("reject");
  const auto scenario = write_scenario(
      dir, "serving: {max_model_len: 3000}\nworkload:\n  source: synthetic\n  num_requests: 200\n  arrival: {rate: 10}\n"
           "  prompt_tokens: {dist: uniform, min: 100, max: 4000}\n  output_tokens: 100\n");
  run(scenario, dir);
  const auto requests = test::read_csv(dir.file("out/requests.csv"));
  int rejected = 0;
  for (const auto& r : requests) {
    const bool too_long = std::stoll(r.at("prompt_tokens")) + 100 > 3000;
    CHECK(r.at("status") == (too_long ? "rejected" : "completed"));
    if (too_long) {
      ++rejected;
      CHECK_THAT(r.at("reason"), Contains("exceeds_max_model_len"));
    }
  }
  CHECK(rejected > 0);
  const auto summary = nlohmann::json::parse(test::read_file(dir.file("out/summary.json")));
  CHECK(summary["rejected_by_reason"]["exceeds_max_model_len"].get<int>() == rejected);
}

TEST_CASE("invariants: Little's law holds on a steady-state run", "[e2e][invariants]") {
  test::TempDir dir("little");
  const auto scenario = write_scenario(
      dir, "policies: {router: {impl: least_outstanding}}\nworkload:\n  source: synthetic\n  num_requests: 6000\n"
           "  arrival: {rate: 8}\n  prompt_tokens: {dist: lognormal, median: 800, sigma: 0.6, max: 6000}\n"
           "  output_tokens: {dist: lognormal, median: 150, sigma: 0.6, max: 1000}\n");
  run(scenario, dir, "--set output.steps=false");
  const auto requests = test::read_csv(dir.file("out/requests.csv"));
  // Steady-state window: the middle 80% of the arrival span (warm-up and drain excluded).
  const double t_first = num(requests.front(), "arrival_s"), t_last = num(requests.back(), "arrival_s");
  const double t1 = t_first + 0.1 * (t_last - t_first), t2 = t_first + 0.9 * (t_last - t_first);
  double area = 0, sojourn = 0;
  int arrivals = 0;
  for (const auto& r : requests) {
    const double a = num(r, "arrival_s"), c = num(r, "completion_s");
    area += std::max(0.0, std::min(c, t2) - std::max(a, t1));
    if (a >= t1 && a < t2) ++arrivals, sojourn += c - a;
  }
  const double L = area / (t2 - t1);
  const double lambda = arrivals / (t2 - t1);
  const double W = sojourn / arrivals;
  INFO("L = " << L << ", lambda = " << lambda << ", W = " << W);
  CHECK(L > 1.0);                                // a loaded system, not a trivial one
  CHECK(lambda * W == Approx(L).epsilon(0.05));  // stated tolerance: 5% over the window
  // Over the whole run the engine's own time-integral of requests in system equals lambda * W.
  const auto summary = nlohmann::json::parse(test::read_file(dir.file("out/summary.json")));
  const auto& little = summary["littles_law"];
  CHECK(little["mean_in_system"].get<double>() == Approx(little["lambda_times_w"].get<double>()).epsilon(1e-9));
}

// Faults: a near-zero bandwidth or rate, or a transfer too large to simulate, must stop the run with
// a clear error (exit 2 naming the value), never run for ages of simulated time, hang, or print
// SimGrid's deadlock line and a result with exit 0.
namespace {

/// hetsim `args` with a wall-clock guard, so that a regression to a hang fails instead of blocking.
test::CommandResult run_guarded(const std::string& args) {
  return test::run_command(std::string("timeout 300 '") + HETSIM_BIN + "' " + args);
}

std::string small_scenario(const test::TempDir& dir, int requests, int output_tokens);

/// Runs the small scenario (in a fresh folder named `name`) with one `--set` override.
test::CommandResult run_small_with(const std::string& name, int requests, int output_tokens, const std::string& set) {
  test::TempDir dir(name);
  return run_guarded("run --quiet '" + small_scenario(dir, requests, output_tokens) + "' --out '" + dir.file("out") +
                     "' --set '" + set + "'");
}

std::string small_scenario(const test::TempDir& dir, int requests, int output_tokens) {
  return write_scenario(dir, fmt::format("workload:\n  source: synthetic\n  num_requests: {}\n  arrival: {{rate: 10}}\n"
                                         "  prompt_tokens: 200\n  output_tokens: {}\n",
                                         requests, output_tokens));
}

}  // namespace

TEST_CASE("faults: a transfer too large to simulate is refused, not reported as taking 0 s", "[e2e][invariants][faults]") {
  // Before: SimGrid never completed a 1e21-byte flow, printed its deadlock line, and hetsim
  // reported "0.0000 ms" with exit 0.
  const auto r = run_guarded("transfer hgx-h100 --flow gpu0.hbm:host.dram:1e9TB");
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("error: --flow gpu0.hbm:host.dram:1e9TB: 1e+09 TB is more than 1e+06 TB"));
  CHECK_THAT(r.output, !Contains("eadlock"));
}

TEST_CASE("faults: a node link of 1e-30 TB/s is refused with exit 2 naming the value", "[e2e][invariants][faults]") {
  // Before: the flow "took" 1e30 ms and hetsim exited 0.
  test::TempDir dir("slow_link");
  std::string node = test::read_file(test::source_dir() + "/hw/nodes/hgx-h100.yaml");
  const std::string from = "{name: uplink0, kind: pcie, between: [pcie_sw0, host.dram], bandwidth: 64 GB/s";
  const auto at = node.find(from);
  REQUIRE(at != std::string::npos);
  node.replace(at, from.size(), "{name: uplink0, kind: pcie, between: [pcie_sw0, host.dram], bandwidth: 1e-30 TB/s");
  const auto file = dir.write("slow.yaml", node);
  const auto r = run_guarded("transfer '" + file + "' --flow gpu0.hbm:host.dram:1GB");
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("bandwidth = 1e-30 TB/s: expected a bandwidth of at least 1 KB/s"));
}

TEST_CASE("faults: a device bandwidth of 1e-30 TB/s is refused before the run", "[e2e][invariants][faults]") {
  const auto r = run_small_with("slow_hbm", 2, 10, "cluster.device.memory.bandwidth=1e-30 TB/s");
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("cluster.device.memory.bandwidth"));
  CHECK_THAT(r.output, Contains("1e-30 TB/s"));
  CHECK_THAT(r.output, Contains("expected a bandwidth of at least 1 KB/s"));
}

TEST_CASE("faults: a step longer than the simulated-time limit stops the run with exit 2", "[e2e][invariants][faults]") {
  // 1 FLOPS: one prefill would take ~1e13 s.
  const auto r = run_small_with("slow_flops", 2, 10, "cluster.device.compute.bf16=1 FLOPS");
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("replica 0 (h100-sxm5-80gb): one step of 200 prefill tokens and 0 decodes would take"));
  CHECK_THAT(r.output, Contains("beyond the 1e+09 s limit of simulated time"));
}

TEST_CASE("faults: a run whose clock passes the simulated-time limit stops with exit 2", "[e2e][invariants][faults]") {
  // 1 KB/s HBM (the lowest bandwidth allowed): every step reads the 16 GB of weights, ~2e7 s each,
  // so 100 output tokens pass 1e9 s of simulated time.
  const auto r = run_small_with("slow_clock", 1, 100, "cluster.device.memory.bandwidth=1 KB/s");
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("simulated time reached"));
  CHECK_THAT(r.output, Contains("beyond the 1e+09 s limit, after replica 0's step from"));
}
