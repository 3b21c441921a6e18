// Tenants, fairness and priorities end to end (workload.tenants; schedulers vtc and priority).
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {

/// One H100 far past its capacity (40 requests/s of 200-2,000-token prompts): queues build up, so
/// the scheduler's choice of whom to serve decides every latency.
std::string flood(const test::TempDir& dir, const std::string& tenants, const std::string& extra = "") {
  return dir.write("flood.yaml", fmt::format(R"(
model: llama-3-8b
cluster: {{device: h100-sxm5-80gb, replicas: 1}}
policies:
  scheduler: {{impl: sarathi, max_num_batched_tokens: 2048}}
{}
workload:
  source: synthetic
  num_requests: 3000
  arrival: {{process: poisson, rate: 40}}
  prompt_tokens: {{dist: uniform, min: 200, max: 2000}}
  output_tokens: {{dist: uniform, min: 50, max: 400}}
  tenants: {}
slo: {{ttft: 1 s}}
)",
                                             extra, tenants));
}

struct Run {
  std::vector<std::map<std::string, std::string>> requests;
  nlohmann::json summary;
};
Run run(const std::string& scenario, const test::TempDir& dir, const std::string& out, const std::string& set = "") {
  const auto r = test::run_hetsim("run --quiet '" + scenario + "' --out '" + dir.file(out) + "' " + set);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return {test::read_csv(dir.file(out + "/requests.csv")), nlohmann::json::parse(test::read_file(dir.file(out + "/summary.json")))};
}
const nlohmann::json& tenant(const Run& r, int t) { return r.summary.at("tenants").at(t); }

/// Tenant `t`'s share of the service (prompt + 2 x output tokens) of the first half of the
/// requests to complete: while every tenant is still backlogged.
double early_share(const Run& r, int t) {
  auto rows = r.requests;
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return std::stod(a.at("completion_s")) < std::stod(b.at("completion_s")); });
  double mine = 0, all = 0;
  for (std::size_t i = 0; i < rows.size() / 2; ++i) {
    const double service = std::stod(rows[i].at("prompt_tokens")) + 2 * std::stod(rows[i].at("output_tokens"));
    all += service;
    if (std::stoi(rows[i].at("tenant")) == t) mine += service;
  }
  return mine / all;
}

}  // namespace

TEST_CASE("tenants: each request draws its tenant by share, deterministically, shown in requests.csv and the summary",
          "[e2e][tenants]") {
  test::TempDir dir("tenants_draw");
  const std::string s = flood(dir, "{shares: [0.85, 0.15]}");
  const Run a = run(s, dir, "a");
  const Run b = run(s, dir, "b");
  CHECK(test::read_file(dir.file("a/requests.csv")) == test::read_file(dir.file("b/requests.csv")));
  std::int64_t light = 0;
  for (const auto& row : a.requests) light += row.at("tenant") == "1" ? 1 : 0;
  // Binomial(3000, 0.15): mean 450, standard deviation 19.6; five of them either side.
  CHECK(light > 352);
  CHECK(light < 548);
  const auto& tenants = a.summary.at("tenants");
  REQUIRE(tenants.size() == 2);
  CHECK(tenants[1].at("requests").get<std::int64_t>() == light);
  CHECK(tenants[0].at("requests").get<std::int64_t>() + light == 3000);
  CHECK(tenants[0].at("service_share").get<double>() + tenants[1].at("service_share").get<double>() == Approx(1.0));
}

TEST_CASE("vtc: a tenant below its fair share keeps a low TTFT while another floods the instance, where FCFS makes it wait",
          "[e2e][tenants][vtc]") {
  test::TempDir dir("tenants_vtc");
  const std::string s = flood(dir, "{shares: [0.85, 0.15]}");
  const Run fcfs = run(s, dir, "fcfs");
  const Run vtc = run(s, dir, "vtc", "--set policies.scheduler.impl=vtc");
  const double light_fcfs = tenant(fcfs, 1).at("ttft_s").at("p90").get<double>();
  const double light_vtc = tenant(vtc, 1).at("ttft_s").at("p90").get<double>();
  INFO("light tenant's p90 TTFT: FCFS " << light_fcfs << " s, VTC " << light_vtc << " s");
  CHECK(light_vtc < 1.0);
  CHECK(light_vtc < 0.1 * light_fcfs);
  CHECK(vtc.summary.at("requests").at("completed").get<std::int64_t>() == 3000);
}

TEST_CASE("vtc: two backlogged tenants get equal service whatever their request rates, where FCFS serves them by rate",
          "[e2e][tenants][vtc]") {
  test::TempDir dir("tenants_vtc_equal");
  // Tenant 0 sends three requests for every one of tenant 1; both stay backlogged for most of the run.
  const std::string s = flood(dir, "{shares: [0.75, 0.25]}");
  const Run fcfs = run(s, dir, "fcfs");
  const Run vtc = run(s, dir, "vtc", "--set policies.scheduler.impl=vtc");
  INFO("tenant 1's early share: FCFS " << early_share(fcfs, 1) << ", VTC " << early_share(vtc, 1));
  CHECK(early_share(fcfs, 1) < 0.35);
  CHECK(early_share(vtc, 1) > 0.4);
  CHECK(early_share(vtc, 1) < 0.6);
}

TEST_CASE("priority: the high class waits less than the low class, and less than under FCFS", "[e2e][tenants][priority]") {
  test::TempDir dir("tenants_priority");
  // The heavy tenant is the high class; KV held to 4 GiB so that admissions contend for room.
  const std::string s = flood(dir, "{shares: [0.85, 0.15], priority: [1, 0]}");
  const std::string kv = "--set policies.kv_cache.kv_cache_memory=4GiB";
  const Run fcfs = run(s, dir, "fcfs", kv);
  const Run prio = run(s, dir, "prio", kv + " --set policies.scheduler.impl=priority");
  const double high = tenant(prio, 0).at("ttft_s").at("mean").get<double>();
  const double low = tenant(prio, 1).at("ttft_s").at("mean").get<double>();
  INFO("priority: high class mean TTFT " << high << " s, low " << low << " s; FCFS high "
                                         << tenant(fcfs, 0).at("ttft_s").at("mean").get<double>() << " s");
  CHECK(high < low);
  CHECK(high < tenant(fcfs, 0).at("ttft_s").at("mean").get<double>());
  CHECK(prio.summary.at("requests").at("completed").get<std::int64_t>() == 3000);
}

TEST_CASE("tenants: bad tenant keys exit 2 naming the key", "[e2e][tenants][errors]") {
  test::TempDir dir("tenants_bad");
  for (const auto& [tenants, expect] : std::vector<std::pair<std::string, std::string>>{
           {"{shares: [0.5, -1]}", "tenant share -1"},
           {"{shares: [0, 0]}", "workload.tenants.shares"},
           {"{shares: [1, 1], priority: [1]}", "workload.tenants.priority"},
           {"{shares: [1, 1], count: 2}", "workload.tenants.count"},
           {"{count: 0}", "workload.tenants.count"},
           {"{shares: [1, 1], priority: [1, x]}", "tenant priority x"},
           {"{count: 2, weights: [1, 2]}", "weights"}}) {
    INFO(tenants);
    const auto r = test::run_hetsim("validate '" + flood(dir, tenants) + "'");
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains(expect));
  }
  const auto r = test::run_hetsim("validate '" + flood(dir, "{count: 2}") + "' --set policies.scheduler.impl=vtc --set policies.scheduler.output_weight=-1");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("policies.scheduler.output_weight"));
}

TEST_CASE("priority migration: only lower-priority sequences are moved off instances where higher-priority requests wait",
          "[e2e][tenants][migration]") {
  test::TempDir dir("priority_migration");
  // Four H100s of one node with 6 GiB of KV each behind a load-blind router, bursty arrivals; one
  // request in ten is of the high class.
  const std::string s = dir.write("s.yaml", R"(
seed: 2
model: llama-3-8b
cluster: {device: h100-sxm5-80gb, node: hgx-h100, replicas: 4}
policies:
  scheduler: {impl: priority, max_num_seqs: 128, max_num_batched_tokens: 8192}
  kv_cache: {impl: paged, kv_cache_memory: 6 GiB}
  router: {impl: round_robin}
  controllers: [{impl: migrate_priority}]
workload:
  source: synthetic
  num_requests: 3000
  arrival: {process: gamma, rate: 14, cv: 4}
  prompt_tokens: {dist: lognormal, median: 1000, sigma: 1.0, max: 8000}
  output_tokens: {dist: lognormal, median: 300, sigma: 1.0, max: 4000}
  tenants: {shares: [0.9, 0.1], priority: [0, 1]}
)");
  const Run r = run(s, dir, "a");
  std::int64_t moved = 0;
  for (const auto& row : r.requests) {
    const std::int64_t m = std::stoll(row.at("migrations"));
    if (m > 0) CHECK(row.at("priority") == "0");  // the high class is never the one moved
    moved += m;
  }
  CHECK(moved > 0);
  CHECK(moved == r.summary.at("migrations").at("done").get<std::int64_t>());
  const auto& req = r.summary.at("requests");
  CHECK(req.at("completed").get<std::int64_t>() + req.at("rejected").get<std::int64_t>() == 3000);
  run(s, dir, "b");
  CHECK(test::read_file(dir.file("a/requests.csv")) == test::read_file(dir.file("b/requests.csv")));
}
