// Elastic capacity end to end: the autoscale controller, cold starts over the platform's links,
// draining (and migrate_drain), scaling.csv and the summary's scaling block.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "support.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {

/// `replicas` H100s of one HGX node serving Llama-3.1-8B under `arrival`, with `controllers`.
std::string fleet(const test::TempDir& dir, const std::string& name, int replicas, const std::string& controllers,
                  const std::string& arrival, const std::string& length = "num_requests: 1500") {
  return dir.write(name + ".yaml", fmt::format(R"(
model: llama-3.1-8b
cluster: {{device: h100-sxm5-80gb, node: hgx-h100, replicas: {}}}
policies:
  scheduler: {{impl: vllm, max_num_seqs: 128, max_num_batched_tokens: 8192}}
  router: {{impl: least_outstanding}}
  controllers: {}
workload:
  source: synthetic
  {}
  arrival: {}
  prompt_tokens: {{dist: lognormal, median: 800, sigma: 0.8, max: 6000}}
  output_tokens: {{dist: lognormal, median: 200, sigma: 0.8, max: 1500}}
slo: {{ttft: 2 s, tpot: 100 ms}}
)",
                                                      replicas, controllers, length, arrival));
}

struct Run {
  std::vector<std::map<std::string, std::string>> scaling, requests;
  nlohmann::json summary;
};
Run run(const std::string& scenario, const test::TempDir& dir, const std::string& out) {
  const auto r = test::run_hetsim("run --quiet '" + scenario + "' --out '" + dir.file(out) + "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return {test::read_csv(dir.file(out + "/scaling.csv")), test::read_csv(dir.file(out + "/requests.csv")),
          nlohmann::json::parse(test::read_file(dir.file(out + "/summary.json")))};
}

std::vector<const std::map<std::string, std::string>*> events(const Run& r, const std::string& kind) {
  std::vector<const std::map<std::string, std::string>*> out;
  for (const auto& row : r.scaling)
    if (row.at("event") == kind) out.push_back(&row);
  return out;
}

/// The contended time `hetsim transfer` simulates for every one of `flows` (all the same size).
double transfer_tool_seconds(const std::vector<std::string>& flows) {
  std::string args = "transfer hgx-h100 --request-size '16 MiB'";
  for (const auto& f : flows) args += " --flow '" + f + "'";
  const auto r = test::run_hetsim(args);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  // "FROM -> TO  BYTES  idle (ms)  sim (ms)  slowdown  route": the sim column of the first flow.
  const std::regex row(R"(->\s+\S+\s+[0-9.]+ [kMGT]?B\s+([0-9.]+)\s+([0-9.]+)\s+)");
  std::smatch m;
  REQUIRE(std::regex_search(r.output, m, row));
  return std::stod(m[2].str()) / 1e3;
}

}  // namespace

TEST_CASE("autoscale: a cold start lasts the weight load over the node's links, contended, plus the start-up",
          "[e2e][autoscale]") {
  test::TempDir dir("autoscale_cold");
  // A burst far past one instance: at the first look (2 s) it wants every instance, and both
  // stopped ones load from the same NVMe at once.
  const std::string controllers = "[{impl: autoscale, target: 4, initial: 1, cold_start: {tier: nvme0, startup: 0 s}}]";
  const Run a = run(fleet(dir, "burst", 3, controllers, "{process: poisson, rate: 40}", "num_requests: 600"), dir, "a");
  const auto starts = events(a, "start");
  const auto readies = events(a, "ready");
  REQUIRE(starts.size() >= 2);
  REQUIRE(readies.size() >= 2);
  CHECK(std::stod(starts[0]->at("time_s")) == 2.0);
  CHECK(std::stod(starts[1]->at("time_s")) == 2.0);
  // Each rank loads the model's weights for one device: what the memory split calls weights.
  const double shard = a.summary.at("memory").at(0).at("weights_bytes").get<double>();
  CHECK(std::stod(readies[0]->at("weight_bytes")) == Approx(shard).epsilon(1e-12));
  const double contended = transfer_tool_seconds({fmt::format("nvme0:gpu1.hbm:{} B", shard), fmt::format("nvme0:gpu2.hbm:{} B", shard)});
  CHECK(std::stod(readies[0]->at("seconds")) == Approx(contended).epsilon(1e-6));
  CHECK(std::stod(readies[1]->at("seconds")) == Approx(contended).epsilon(1e-6));
  // Alone on its route (no contention) and with a loader slower than the route, the loader sets
  // the pace: shard / loader_bandwidth, then the start-up.
  const std::string slow = "[{impl: autoscale, target: 4, initial: 1, max: 2, cold_start: {tier: nvme0, startup: 7 s, loader_bandwidth: 1 GB/s}}]";
  const Run b = run(fleet(dir, "slow", 2, slow, "{process: poisson, rate: 40}", "num_requests: 600"), dir, "b");
  const auto b_ready = events(b, "ready");
  REQUIRE(b_ready.size() >= 1);
  CHECK(std::stod(b_ready[0]->at("seconds")) == Approx(shard / 1e9 + 7.0).epsilon(1e-9));
  // Requests that waited for it ran on it only after it was ready.
  const double ready_at = std::stod(b_ready[0]->at("time_s"));
  for (const auto& row : b.requests)
    if (row.at("replica") == "1" && !row.at("first_scheduled_s").empty()) CHECK(std::stod(row.at("first_scheduled_s")) >= ready_at - 1e-9);
}

TEST_CASE("autoscale: a cold start from a storage node crosses the NICs and the fabric at the NIC's rate", "[e2e][autoscale]") {
  test::TempDir dir("autoscale_store");
  const std::string file = dir.write("store.yaml", R"(
model: llama-3.1-8b
cluster:
  device: h100-sxm5-80gb
  node: hgx-h100
  replicas: 2
  kv_stores: [{name: models, node: kv-store-node}]
  fabric: {kind: fat_tree, nodes_per_leaf: 2, uplink_bandwidth: 800 Gbps, latency: 1 us}
policies:
  router: {impl: least_outstanding}
  controllers: [{impl: autoscale, target: 4, initial: 1, cold_start: {store: models, startup: 0 s}}]
workload:
  source: synthetic
  num_requests: 400
  arrival: {process: poisson, rate: 40}
  prompt_tokens: 500
  output_tokens: 100
)");
  const Run r = run(file, dir, "out");
  const auto readies = events(r, "ready");
  REQUIRE(readies.size() == 1);
  // One shard, alone on its route: the store's 400 Gb/s NIC and the GPU's are the bottleneck
  // (50 GB/s); the route's latencies are microseconds.
  const double shard = r.summary.at("memory").at(0).at("weights_bytes").get<double>();
  CHECK(std::stod(readies[0]->at("seconds")) == Approx(shard / 50e9).epsilon(0.001));
}

TEST_CASE("autoscale: capacity follows a swinging load, conserves requests, is deterministic, and draining by migration is faster",
          "[e2e][autoscale]") {
  test::TempDir dir("autoscale_swing");
  const std::string arrival = "{process: poisson, rate: 8, swing: {period: 600 s, peak_to_trough: 8, peak_at: 300 s}}";
  const std::string scaler =
      "{impl: autoscale, target: 16, stable_window: 30 s, panic_window: 3 s, scale_down_delay: 30 s, cold_start: {tier: nvme0, startup: 10 s}}";
  const std::string plain = fleet(dir, "plain", 5, "[" + scaler + "]", arrival, "duration: 600 s");
  const Run a = run(plain, dir, "a");
  const Run again = run(plain, dir, "again");
  CHECK(test::read_file(dir.file("a/scaling.csv")) == test::read_file(dir.file("again/scaling.csv")));
  CHECK(test::read_file(dir.file("a/requests.csv")) == test::read_file(dir.file("again/requests.csv")));

  const nlohmann::json& s = a.summary.at("scaling");
  // Up for the peak, down after it.
  CHECK(s.at("starts").get<int>() >= 2);
  CHECK(s.at("stops").get<int>() >= 5);  // four at time 0 (initial = min = 1), more after the peak
  CHECK(s.at("peak_instances").get<int>() >= 3);
  CHECK(s.at("least_instances").get<int>() == 1);
  const double mean = s.at("mean_instances").get<double>();
  CHECK(mean > 1.0);
  CHECK(mean < s.at("peak_instances").get<double>());
  // Device-hours are the provisioned instance time (TP 1): mean instances x duration.
  CHECK(s.at("device_hours").get<double>() == Approx(mean * a.summary.at("duration_s").get<double>() / 3600).epsilon(1e-9));
  // The CSV's counts never leave [0, fleet], and every cold start that began before the end finished.
  for (const auto& row : a.scaling) {
    CHECK(std::stoi(row.at("provisioned")) <= 5);
    CHECK(std::stoi(row.at("active")) >= 1);
    CHECK(std::stoi(row.at("active")) <= std::stoi(row.at("provisioned")));
  }
  CHECK(s.at("starts").get<int>() == s.at("readies").get<int>());
  // Conservation: every request completed or was rejected, none lost with a drained instance.
  const auto& req = a.summary.at("requests");
  CHECK(req.at("completed").get<std::int64_t>() + req.at("rejected").get<std::int64_t>() == req.at("total").get<std::int64_t>());
  CHECK(static_cast<std::int64_t>(a.requests.size()) == req.at("total").get<std::int64_t>());
  // No request ran on an instance while it was stopped.
  std::map<int, std::vector<std::pair<double, std::string>>> life;
  for (const auto& row : a.scaling) life[std::stoi(row.at("instance"))].push_back({std::stod(row.at("time_s")), row.at("event")});
  for (const auto& row : a.requests) {
    if (row.at("first_scheduled_s").empty()) continue;
    const double t = std::stod(row.at("first_scheduled_s"));
    std::string state = "ready";
    for (const auto& [when, what] : life[std::stoi(row.at("replica"))])
      if (when <= t) state = what;
    CHECK(state != "stop");
    CHECK(state != "start");
  }

  // migrate_drain moves decoding sequences off a draining instance: it stops sooner.
  const Run m = run(fleet(dir, "drain", 5, "[{impl: migrate_drain}, " + scaler + "]", arrival, "duration: 600 s"), dir, "m");
  auto mean_drain = [](const Run& r) {
    double sum = 0;
    int n = 0;
    for (const auto* e : events(r, "stop"))
      if (std::stod(e->at("time_s")) > 0) sum += std::stod(e->at("seconds")), ++n;
    return n ? sum / n : -1.0;
  };
  REQUIRE(mean_drain(a) > 0);
  REQUIRE(mean_drain(m) >= 0);
  CHECK(mean_drain(m) < mean_drain(a));
  CHECK(m.summary.at("migrations").at("done").get<int>() > 0);
}

TEST_CASE("autoscale: bad keys fail with the key path", "[e2e][autoscale]") {
  test::TempDir dir("autoscale_errors");
  const std::string arrival = "{process: poisson, rate: 4}";
  auto fails = [&](const std::string& name, const std::string& controllers, const std::string& path, const std::string& what) {
    const auto r = test::run_hetsim("run --quiet '" + fleet(dir, name, 3, controllers, arrival, "num_requests: 50") + "' --out '" +
                                    dir.file(name) + "'");
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains(path));
    CHECK_THAT(r.output, Contains(what));
  };
  fails("no_target", "[{impl: autoscale}]", "policies.controllers[0]", "'target'");
  fails("bad_tier", "[{impl: autoscale, target: 4, cold_start: {tier: nvme9}}]", "policies.controllers[0].cold_start.tier", "nvme9");
  fails("hbm_tier", "[{impl: autoscale, target: 4, cold_start: {tier: gpu3.hbm}}]", "policies.controllers[0].cold_start.tier", "gpu3.hbm");
  fails("no_store", "[{impl: autoscale, target: 4, cold_start: {store: models}}]", "policies.controllers[0].cold_start.store", "kv_stores");
  fails("too_many", "[{impl: autoscale, target: 4, max: 9}]", "policies.controllers[0].max", "3 instances");
  fails("min_too_many", "[{impl: autoscale, target: 4, min: 4}]", "policies.controllers[0].min", "3 instances");
  fails("bad_pool", "[{impl: autoscale, target: 4, pools: [a100]}]", "policies.controllers[0].pools", "h100-sxm5-80gb");
  fails("kv_target", "[{impl: autoscale, metric: kv_utilization, target: 2}]", "policies.controllers[0].target", "(0, 1]");
  // The arrival swing's keys.
  const auto r = test::run_hetsim("run --quiet '" +
                                  fleet(dir, "swing", 1, "[]", "{process: poisson, rate: 4, swing: {period: 1 h, peak_to_trough: 4, peak_at: 2 h}}",
                                        "num_requests: 50") +
                                  "' --out '" + dir.file("swing") + "'");
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("workload.arrival.swing.peak_at"));
  CHECK_THAT(r.output, Contains("less than the period"));
}
