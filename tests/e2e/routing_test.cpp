// Cluster routing end to end: cache-aware routers against load balancers on Mooncake's
// conversation trace, and routers that read stale snapshots of replica state
// (policies.router.refresh).
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <map>
#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {

struct Run {
  std::vector<std::map<std::string, std::string>> requests;
  nlohmann::json summary;
};

Run run(const std::string& args, const test::TempDir& dir, const std::string& out) {
  auto r = test::run_hetsim("run --quiet " + args + " --out '" + dir.file(out) + "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return {test::read_csv(dir.file(out + "/requests.csv")), nlohmann::json::parse(test::read_file(dir.file(out + "/summary.json")))};
}

std::string routing_scenario() { return "'" + test::source_dir() + "/scenarios/routing_mooncake.yaml'"; }
/// The same cluster with HBM only (no DRAM tier below it).
std::string hbm_only_scenario() { return "'" + test::source_dir() + "/scenarios/prefix_cache_mooncake.yaml'"; }

double hit_rate(const Run& r) { return r.summary.at("prefix_cache").at("hit_rate").get<double>(); }
double ttft(const Run& r, const char* stat) { return r.summary.at("latency_s").at("ttft").at(stat).get<double>(); }

std::vector<int> replicas_of(const Run& r) {
  std::vector<int> out;
  for (const auto& row : r.requests) out.push_back(std::stoi(row.at("replica")));
  return out;
}

}  // namespace

TEST_CASE("routing: on Mooncake's conversation trace, cache-aware routers reuse more prefix KV than round robin",
          "[e2e][routing]") {
  test::TempDir dir("routing_hits");
  const Run rr = run(routing_scenario() + " --set policies.router.impl=round_robin", dir, "rr");
  const Run affinity = run(routing_scenario() + " --set policies.router.impl=cache_affinity", dir, "affinity");
  const Run precise = run(routing_scenario(), dir, "precise");
  INFO("round robin " << hit_rate(rr) << ", cache affinity " << hit_rate(affinity) << ", precise " << hit_rate(precise));
  CHECK(hit_rate(affinity) > hit_rate(rr));
  CHECK(hit_rate(precise) > hit_rate(affinity));
  // Reused prefixes are prefill not done: the mean TTFT falls with the hit rate here.
  CHECK(ttft(precise, "mean") < ttft(rr, "mean"));
  // Every request is served once, wherever it went.
  for (const Run* r : {&rr, &affinity, &precise}) CHECK(r->summary.at("requests").at("completed").get<std::int64_t>() == 3000);
}

TEST_CASE("routing: stale load signals never improve tail latency (least_outstanding herds onto one replica)",
          "[e2e][routing][stale]") {
  test::TempDir dir("routing_stale");
  const std::string lo = hbm_only_scenario() + " --set policies.router.impl=least_outstanding";
  const Run fresh = run(lo, dir, "fresh");
  double previous = ttft(fresh, "p99");
  for (const char* refresh : {"50ms", "500ms", "5s"}) {
    const Run stale = run(lo + " --set policies.router.refresh=" + refresh, dir, refresh);
    INFO(refresh << ": p99 TTFT " << ttft(stale, "p99") << " s against " << ttft(fresh, "p99") << " s fresh");
    CHECK(ttft(stale, "p99") >= ttft(fresh, "p99"));
    CHECK(ttft(stale, "p90") >= ttft(fresh, "p90"));
    previous = ttft(stale, "p99");
  }
  // Five seconds stale is worse than 50 ms stale.
  CHECK(previous > ttft(run(lo + " --set policies.router.refresh=50ms", dir, "again"), "p99"));
}

TEST_CASE("routing: a router with a refresh period sees replica loads as of the last multiple of the period",
          "[e2e][routing][stale]") {
  test::TempDir dir("routing_snapshot");
  // Four requests at t = 0 and one at 1.5 s, each decoding 400 tokens (busy past 1.5 s).
  dir.write("trace.jsonl", R"({"timestamp": 0, "input_length": 500, "output_length": 400}
{"timestamp": 0, "input_length": 500, "output_length": 400}
{"timestamp": 0, "input_length": 500, "output_length": 400}
{"timestamp": 0, "input_length": 500, "output_length": 400}
{"timestamp": 1500, "input_length": 500, "output_length": 400}
)");
  const std::string scenario = dir.write("s.yaml",
                                         "model: llama-3-8b\ncluster: {device: h100-sxm5-80gb, replicas: 2}\n"
                                         "policies: {router: {impl: least_outstanding}}\n"
                                         "workload: {source: mooncake, file: trace.jsonl}\n");
  // Fresh: each arrival sees the ones before it.
  CHECK(replicas_of(run("'" + scenario + "'", dir, "fresh")) == std::vector<int>{0, 1, 0, 1, 0});
  // Refreshed every second: the four at t = 0 all see the empty fleet of the snapshot at 0 and go to
  // replica 0 (ties: the lowest index); the one at 1.5 s sees the snapshot at 1 s, where replica 0
  // holds four requests.
  const Run stale = run("'" + scenario + "' --set policies.router.refresh=1s", dir, "stale");
  CHECK(replicas_of(stale) == std::vector<int>{0, 0, 0, 0, 1});
  // Same scenario, same seed: the same bytes.
  const Run again = run("'" + scenario + "' --set policies.router.refresh=1s", dir, "stale_again");
  CHECK(test::read_file(dir.file("stale/requests.csv")) == test::read_file(dir.file("stale_again/requests.csv")));
}

TEST_CASE("routing: the cache-aware routers are deterministic with a stale snapshot", "[e2e][routing]") {
  test::TempDir dir("routing_determinism");
  for (const char* impl : {"prefix_score --set policies.router.refresh=200ms", "power_of_two --set policies.router.refresh=200ms"}) {
    INFO(impl);
    const std::string args = hbm_only_scenario() + " --set workload.limit=800 --set policies.router.impl=" + impl;
    run(args, dir, "a");
    run(args, dir, "b");
    CHECK(test::read_file(dir.file("a/requests.csv")) == test::read_file(dir.file("b/requests.csv")));
    CHECK(test::read_file(dir.file("a/summary.json")) == test::read_file(dir.file("b/summary.json")));
    std::filesystem::remove_all(dir.file("a"));
    std::filesystem::remove_all(dir.file("b"));
  }
}

TEST_CASE("routing: bad router keys exit 2 naming the key", "[e2e][routing]") {
  test::TempDir dir("routing_bad");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"policies.router.refresh=0.5ms", "policies.router.refresh"},
      {"policies.router.refresh=-1s", "policies.router.refresh"},
      {"policies.router.refresh=10", "policies.router.refresh"},
      {"policies.router.impl=prefix_score --set policies.router.mode=exact", "policies.router.mode"},
      {"policies.router.impl=prefix_score --set policies.router.weights.queue=-1", "policies.router.weights.queue"},
      {"policies.router.impl=prefix_score --set policies.router.lru_tokens=100", "policies.router.lru_tokens"},
      {"policies.router.impl=cache_affinity --set policies.router.balance_rel=0.5", "policies.router.balance_rel"},
      {"policies.router.impl=cache_affinity --set policies.router.prefix_tokens=0", "policies.router.prefix_tokens"},
      {"policies.router.impl=power_of_two --set policies.router.balance_abs=3", "policies.router.balance_abs"},
      {"policies.router.impl=predicted_length --set policies.router.sigma=-1", "policies.router.sigma"},
  };
  for (const auto& [set, expect] : cases) {
    INFO(set);
    const auto r = test::run_hetsim("run --quiet " + hbm_only_scenario() + " --out '" + dir.file("out") + "' --set " + set);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains(expect));
  }
}

TEST_CASE("routing: predicted_length routes better the better its output-length predictions", "[e2e][routing]") {
  test::TempDir dir("routing_predicted");
  // Four H100s, heavy-tailed outputs (log-normal, sigma 1.5), near saturation.
  const std::string s = dir.write("s.yaml", R"(
model: llama-3-8b
cluster: {device: h100-sxm5-80gb, replicas: 4}
policies:
  scheduler: {impl: sarathi, max_num_batched_tokens: 2048, max_num_seqs: 64}
  router: {impl: predicted_length}
workload:
  source: synthetic
  num_requests: 4000
  arrival: {process: poisson, rate: 30}
  prompt_tokens: {dist: lognormal, median: 500, sigma: 1.0, max: 8000}
  output_tokens: {dist: lognormal, median: 200, sigma: 1.5, max: 8000}
slo: {ttft: 1 s, tpot: 50 ms}
)");
  const Run oracle = run("'" + s + "' --set policies.router.sigma=0", dir, "oracle");
  const Run noisy = run("'" + s + "' --set policies.router.sigma=2", dir, "noisy");
  const double good_oracle = oracle.summary.at("goodput").at("slo_attainment").get<double>();
  const double good_noisy = noisy.summary.at("goodput").at("slo_attainment").get<double>();
  INFO("SLO attainment: oracle " << good_oracle << ", sigma 2 " << good_noisy);
  CHECK(good_oracle > good_noisy + 0.05);
  CHECK(ttft(oracle, "p99") < ttft(noisy, "p99"));
  // The same requests end either way (a few are longer than the context and rejected by both).
  for (const char* key : {"completed", "rejected"})
    CHECK(oracle.summary.at("requests").at(key) == noisy.summary.at("requests").at(key));
}

TEST_CASE("cluster serving: with every cluster policy on at once the run is deterministic and conserves requests",
          "[e2e][routing][determinism]") {
  test::TempDir dir("cluster_all");
  // Prefill and decode pools on two HGX nodes, prefix caching, a stale precise prefix-score router,
  // layer-wise P/D hand-off, live migration between decode instances, and VTC across 3 tenants.
  const std::string s = dir.write("all.yaml", R"(
seed: 5
model: llama-3-8b
cluster:
  pools:
    - {name: p, device: h100-sxm5-80gb, node: hgx-h100, replicas: 2, role: prefill}
    - {name: d, device: h100-sxm5-80gb, node: hgx-h100, replicas: 3, role: decode}
  fabric: {kind: rail, uplink_bandwidth: 400 Gbps, latency: 2 us}
policies:
  scheduler: {impl: vtc, max_num_batched_tokens: 4096, max_num_seqs: 64}
  kv_cache: {impl: prefix_caching, kv_cache_memory: 2 GiB}
  router: {impl: prefix_score, refresh: 100 ms}
  controllers:
    - {impl: pd_disaggregation, transfer: layerwise}
    - {impl: migrate_load_balance, interval: 50 ms, threshold: 0.1}
workload:
  source: synthetic
  num_requests: 1500
  arrival: {process: gamma, rate: 25, cv: 3}
  prompt_tokens: {dist: lognormal, median: 800, sigma: 0.8, max: 6000}
  output_tokens: {dist: lognormal, median: 200, sigma: 1.0, max: 2000}
  shared_prefix: {groups: 20, tokens: 512}
  tenants: {shares: [0.6, 0.3, 0.1]}
slo: {ttft: 1 s, tpot: 50 ms}
)");
  const Run a = run("'" + s + "' --set output.timeline=true", dir, "a");
  const Run b = run("'" + s + "' --set output.timeline=true", dir, "b");
  for (const char* f : {"requests.csv", "summary.json", "timeline.json"}) {
    INFO(f);
    CHECK(test::read_file(dir.file(std::string("a/") + f)) == test::read_file(dir.file(std::string("b/") + f)));
  }
  const auto& req = a.summary.at("requests");
  CHECK(req.at("completed").get<std::int64_t>() + req.at("rejected").get<std::int64_t>() == 1500);
  // A completed request decoded on a decode instance exactly when its hand-off is recorded (with
  // 2 GiB of KV the decode pool is sometimes full, and the sequence then stays where it was
  // prefilled); and the policies did act: hand-offs, reused prefixes, migrations.
  std::int64_t handed = 0, migrated = 0;
  for (const auto& row : a.requests) {
    if (row.at("status") != "completed") continue;
    const bool moved = !row.at("kv_handoff_s").empty();
    CHECK(moved == (std::stoi(row.at("decode_replica")) >= 2));
    handed += moved ? 1 : 0;
    migrated += std::stoll(row.at("migrations"));
  }
  CHECK(handed > req.at("completed").get<std::int64_t>() / 2);
  CHECK(migrated > 0);
  CHECK(migrated == a.summary.at("migrations").at("done").get<std::int64_t>());
  CHECK(a.summary.at("prefix_cache").at("hit_rate").get<double>() > 0);
  CHECK(a.summary.at("tenants").size() == 3);
}
