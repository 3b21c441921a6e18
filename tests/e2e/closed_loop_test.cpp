// Closed-loop clients end to end (workload.concurrency): Little's law in its closed form, request
// conservation, never more than N requests in flight, determinism, and clear config errors.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {
std::string scenario() { return test::source_dir() + "/scenarios/closed_loop_concurrency.yaml"; }

struct Run {
  std::vector<std::map<std::string, std::string>> requests;
  nlohmann::json summary;
};

Run run(const test::TempDir& dir, const std::string& extra, const std::string& file = scenario()) {
  const auto r = test::run_hetsim("run --quiet '" + file + "' --out '" + dir.file("out") + "' " + extra);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return {test::read_csv(dir.file("out/requests.csv")), nlohmann::json::parse(test::read_file(dir.file("out/summary.json")))};
}

double num(const std::map<std::string, std::string>& row, const char* key) { return std::stod(row.at(key)); }
/// When a request ended: its completion, or its issue time if it was rejected (at once, on arrival).
double end_of(const std::map<std::string, std::string>& row) {
  return row.at("status") == "completed" ? num(row, "completion_s") : num(row, "arrival_s");
}

/// Checks the closed loop's accounting and Little's law N = X (R + Z) on a finished run; the law's
/// rigorous tolerance (one cycle over the run) must be below `tight` (short runs have a loose one).
void check_closed_loop(const Run& run, int clients, std::size_t requests, double tight) {
  const auto& rs = run.requests;
  const double duration = run.summary["duration_s"].get<double>();
  // Conservation: every request of the pool was issued once, under its id, and ended.
  REQUIRE(rs.size() == requests);
  CHECK(run.summary["requests"]["total"].get<std::size_t>() == requests);
  CHECK(run.summary["requests"]["completed"].get<std::size_t>() + run.summary["requests"]["rejected"].get<std::size_t>() ==
        requests);
  // Each client's timeline [0, T] splits into its requests (issue to end), the think times
  // between them and an idle tail after its last request ends. Summed over clients:
  //   N T = sum R_i + sum Z_i + tail,
  // an identity the engine must keep exactly (up to rounding of the clock).
  std::map<int, double> last_end;
  std::map<int, int> per_client;
  double sum_r = 0, sum_z = 0, max_r = 0, max_z = 0;
  std::size_t with_think = 0;
  for (std::size_t i = 0; i < rs.size(); ++i) {
    const auto& r = rs[i];
    INFO("request " << i);
    CHECK(std::stoul(r.at("id")) == i);
    const int c = std::stoi(r.at("client"));
    REQUIRE((c >= 0 && c < clients));
    const double issue = num(r, "arrival_s"), end = end_of(r);
    if (r.at("think_s").empty()) {
      // A client's first request goes out at time 0, before any other of its requests.
      CHECK(issue == 0);
      CHECK(per_client[c] == 0);
    } else {
      // The next one goes out exactly its think time after the previous one ended.
      const double z = num(r, "think_s");
      REQUIRE(per_client[c] > 0);
      CHECK(issue == Approx(last_end[c] + z).epsilon(0).margin(1e-9));
      sum_z += z;
      max_z = std::max(max_z, z);
      ++with_think;
    }
    CHECK(end >= issue);
    sum_r += end - issue;
    max_r = std::max(max_r, end - issue);
    last_end[c] = end;
    ++per_client[c];
  }
  double tail = 0;
  for (const auto& [c, end] : last_end) tail += duration - end;
  CHECK(static_cast<int>(last_end.size()) == std::min<int>(clients, static_cast<int>(requests)));
  CHECK(clients * duration == Approx(sum_r + sum_z + tail).epsilon(1e-9));
  // Little's law for the closed loop: X (R + Z) = (sum R + n Zbar) / T differs from N by
  // (N Zbar - tail) / T. Each client's tail is at most one cycle (R_max + Z_max: it is busy or
  // thinking until the pool runs out), so |N - X (R + Z)| / N <= (R_max + Z_max) / T, one cycle
  // over the run: about 1.6% for the ready scenario (1000 requests of 1.41 s over 88 s).
  const double n = static_cast<double>(requests);
  const double z_bar = with_think ? sum_z / static_cast<double>(with_think) : 0.0;
  const double law = n / duration * (sum_r / n + z_bar);
  const double bound = (max_r + max_z) / duration;
  INFO("N = " << clients << ", X (R + Z) = " << law << ", bound " << bound);
  CHECK(std::abs(law - clients) / clients <= bound);
  CHECK(bound < tight);
  CHECK(run.summary["closed_loop"]["throughput_times_cycle"].get<double>() == Approx(law).epsilon(1e-9));
  CHECK(run.summary["closed_loop"]["clients"].get<int>() == clients);
  CHECK(run.summary["closed_loop"]["think_time_mean_s"].get<double>() == Approx(z_bar).margin(1e-12));
  // Open-form Little's law still holds on the same run: L = lambda W.
  CHECK(run.summary["littles_law"]["mean_in_system"].get<double>() ==
        Approx(run.summary["littles_law"]["lambda_times_w"].get<double>()).epsilon(1e-9));
}

/// The most requests in flight at once from requests.csv: ends before issues at equal times (an
/// end is what lets its client issue).
int peak_in_flight(const std::vector<std::map<std::string, std::string>>& rs) {
  std::vector<std::pair<double, int>> events;
  for (const auto& r : rs) {
    events.emplace_back(num(r, "arrival_s"), +1);
    events.emplace_back(end_of(r), -1);
  }
  std::sort(events.begin(), events.end());
  int now = 0, peak = 0;
  for (const auto& [t, d] : events) peak = std::max(peak, now += d);
  return peak;
}
}  // namespace

TEST_CASE("closed loop: the ready scenario keeps 16 clients busy, Little's law and conservation hold", "[e2e][closed_loop]") {
  test::TempDir dir("closed_loop");
  const Run r = run(dir, "");
  check_closed_loop(r, 16, 1000, 0.02);
  CHECK(r.summary["closed_loop"]["peak_in_system"].get<int>() == 16);
  CHECK(peak_in_flight(r.requests) == 16);
  // TTFT is counted from the issue time, not from time 0: no request waits for a client's earlier ones.
  for (const auto& row : r.requests) REQUIRE(num(row, "first_token_s") - num(row, "arrival_s") < 1.0);
}

TEST_CASE("closed loop: random think times and mixed lengths, never more than N in flight", "[e2e][closed_loop]") {
  test::TempDir dir("closed_loop_think");
  // 800 requests: the run spans enough cycles that Little's law is checked within 3%.
  const Run r = run(dir, "--set 'workload.think_time={dist: exponential, mean: 0.5 s}' --set workload.concurrency=5 "
                         "--set workload.num_requests=800 --set 'workload.prompt_tokens={dist: uniform, min: 10, max: 3000}' "
                         "--set 'workload.output_tokens={dist: uniform, min: 1, max: 300}'");
  check_closed_loop(r, 5, 800, 0.03);
  const int peak = r.summary["closed_loop"]["peak_in_system"].get<int>();
  CHECK(peak <= 5);
  CHECK(peak_in_flight(r.requests) <= 5);
  const double z = r.summary["closed_loop"]["think_time_mean_s"].get<double>();
  CHECK(z == Approx(0.5).epsilon(0.15));  // 795 exponential draws: standard error 3.5%
}

TEST_CASE("closed loop: rejected requests free their client too", "[e2e][closed_loop]") {
  test::TempDir dir("closed_loop_reject");
  // Every third prompt is too long for max_model_len and is rejected at once.
  dir.write("lengths.csv", "n\n100\n900\n5000\n");
  const Run r = run(dir, "--set serving.max_model_len=2048 --set workload.concurrency=3 --set workload.num_requests=90 "
                         "--set 'workload.prompt_tokens={dist: empirical, file: " + dir.file("lengths.csv") + ", column: n}'");
  check_closed_loop(r, 3, 90, 0.05);
  CHECK(r.summary["requests"]["rejected"].get<int>() > 0);
  CHECK(peak_in_flight(r.requests) <= 3);
}

TEST_CASE("closed loop: a trace's lengths replayed in order by closed-loop clients", "[e2e][closed_loop]") {
  test::TempDir dir("closed_loop_trace");
  const auto file = dir.write("trace.yaml", "model: llama-3-8b\ncluster: {device: h100-sxm5-80gb}\nworkload: {source: azure, "
                                             "file: " + test::fixture("traces/azure_conv_sample.csv") + ", concurrency: 2}\n");
  const Run r = run(dir, "", file);
  // The sample's lengths in order; its 14,050-token prompt exceeds Llama-3-8B's context and is rejected.
  const std::vector<std::string> prompts{"374", "396", "879", "91", "1024", "14050", "2", "1155"};
  REQUIRE(r.requests.size() == prompts.size());
  for (std::size_t i = 0; i < prompts.size(); ++i) CHECK(r.requests[i].at("prompt_tokens") == prompts[i]);
  check_closed_loop(r, 2, 8, 1.0);  // 8 requests: the law is loose, the accounting still exact
}

TEST_CASE("closed loop: same scenario and seed give byte-identical outputs", "[e2e][closed_loop][determinism]") {
  test::TempDir a("closed_det_a"), b("closed_det_b"), c("closed_det_c");
  const std::string extra = "--set 'workload.think_time={dist: uniform, min: 0 s, max: 1 s}' --set workload.num_requests=200 "
                            "--set 'workload.output_tokens={dist: uniform, min: 1, max: 256}'";
  run(a, extra);
  run(b, extra);
  run(c, extra + " --seed 7");
  for (const char* f : {"requests.csv", "steps.csv", "summary.json", "resolved.yaml"}) {
    INFO(f);
    CHECK(test::read_file(a.file(std::string("out/") + f)) == test::read_file(b.file(std::string("out/") + f)));
  }
  CHECK(test::read_file(a.file("out/requests.csv")) != test::read_file(c.file("out/requests.csv")));
}

TEST_CASE("closed loop: config errors exit 2 naming the key, value and expectation", "[e2e][closed_loop][errors]") {
  struct Case {
    std::string set, expect;
  };
  const std::vector<Case> cases = {
      {"workload.concurrency=0", "workload.concurrency = 0: expected an integer in [1, 1000000]"},
      {"workload.think_time=-2s", "workload.think_time = -2s"},
      {"'workload.think_time={dist: gamma}'", "workload.think_time.dist = gamma: expected one of \"fixed\", \"exponential\", \"uniform\""},
      {"'workload.arrival={rate: 4}'", "workload.arrival = <map>: closed-loop clients"},
  };
  for (const auto& c : cases) {
    INFO(c.set);
    const auto r = test::run_hetsim("validate '" + scenario() + "' --set " + c.set);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains(c.expect));
    CHECK_THAT(r.output, !Contains("internal error"));
  }
  const auto open = test::run_hetsim("validate '" + test::source_dir() + "/scenarios/quickstart.yaml' --set workload.think_time=1s");
  CHECK(open.exit_code == 2);
  CHECK_THAT(open.output, Contains("workload.think_time = 1s") && Contains("give workload.concurrency"));
  const auto ok = test::run_hetsim("validate '" + scenario() + "'");
  CHECK(ok.exit_code == 0);
  CHECK_THAT(ok.output, Contains("1000 requests from 16 closed-loop clients"));
}
