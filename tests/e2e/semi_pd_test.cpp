// semi-PD end to end: prefill and decode workers on split SMs of the same devices, one KV memory
// split between them, hand-offs that move no bytes.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {

/// Two H100s of one HGX node serving Llama-3.1-8B, as `pool` (a pool map), under `workload`.
std::string scenario(const test::TempDir& dir, const std::string& name, const std::string& pool, const std::string& controllers,
                     const std::string& workload) {
  return dir.write(name + ".yaml", fmt::format(R"(
model: llama-3.1-8b
cluster:
  pools: [{}]
policies:
  scheduler: {{impl: vllm, max_num_seqs: 256, max_num_batched_tokens: 8192}}
  router: {{impl: least_outstanding}}
  controllers: {}
workload:
  source: synthetic
  {}
slo: {{ttft: 400 ms, tpot: 40 ms}}
)",
                                                      pool, controllers, workload));
}

struct Run {
  std::vector<std::map<std::string, std::string>> requests;
  nlohmann::json summary;
};
Run run(const std::string& file, const test::TempDir& dir, const std::string& out) {
  const auto r = test::run_hetsim("run --quiet '" + file + "' --out '" + dir.file(out) + "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return {test::read_csv(dir.file(out + "/requests.csv")), nlohmann::json::parse(test::read_file(dir.file(out + "/summary.json")))};
}

/// Two semi-PD replicas: prefill workers on `sms` of each GPU's SMs, KV split 30/70.
std::string pair(double sms, const std::string& bandwidth) {
  return fmt::format("{{name: spd, device: h100-sxm5-80gb, node: hgx-h100, replicas: 2, semi_pd: {{prefill_sms: {}, prefill_kv: 0.3, "
                     "memory_bandwidth: {}}}}}",
                     sms, bandwidth);
}
const char* kWhole = "{name: whole, device: h100-sxm5-80gb, node: hgx-h100, replicas: 2}";
const char* kOne = "num_requests: 1\n  arrival: {process: poisson, rate: 1}\n  prompt_tokens: 6000\n  output_tokens: 50";

}  // namespace

TEST_CASE("semi-PD: a worker on a share of the SMs computes at that share, and its hand-off moves no bytes", "[e2e][semi_pd]") {
  test::TempDir dir("semi_pd_alone");
  const Run whole = run(scenario(dir, "whole", kWhole, "[]", kOne), dir, "whole");
  const Run split = run(scenario(dir, "split", pair(0.5, "split"), "[{impl: pd_disaggregation}]", kOne), dir, "split");
  const Run full = run(scenario(dir, "full", pair(0.5, "full"), "[{impl: pd_disaggregation}]", kOne), dir, "full");
  auto ttft = [](const Run& r) { return std::stod(r.requests.at(0).at("first_token_s")) - std::stod(r.requests.at(0).at("arrival_s")); };
  auto tpot = [](const Run& r) {
    const auto& q = r.requests.at(0);
    return (std::stod(q.at("completion_s")) - std::stod(q.at("first_token_s"))) / (std::stod(q.at("output_tokens")) - 1);
  };
  // Alone, a 6,000-token prefill on half the SMs and half the bandwidth takes twice as long, less
  // only the per-kernel launch overheads, which do not scale.
  CHECK(ttft(split) / ttft(whole) > 1.9);
  CHECK(ttft(split) / ttft(whole) <= 2.0 + 1e-9);
  // With all of the bandwidth, only the compute-bound share slows: longer than alone, shorter than split.
  CHECK(ttft(full) > ttft(whole));
  CHECK(ttft(full) < ttft(split));
  // Decoding one sequence is memory-bound: at full bandwidth its steps barely slow; split, they double.
  CHECK(tpot(full) / tpot(whole) < 1.1);
  CHECK(tpot(split) / tpot(whole) > 1.8);
  // The decode worker on the same GPU took it over, and no KV crossed a link.
  for (const Run* r : {&split, &full}) {
    const auto& q = r->requests.at(0);
    CHECK(std::stoi(q.at("decode_replica")) == std::stoi(q.at("replica")) + 1);
    CHECK(std::stod(q.at("kv_handoff_bytes")) == 0);
    CHECK(std::stod(q.at("kv_handoff_s")) == 0);
  }
  // Two GPUs, not four; the same hourly cost; one device's KV memory split 30/70 between the
  // workers (the weights counted once).
  CHECK(split.summary.at("gpus") == 2);
  CHECK(split.summary.at("cost_per_hour").get<double>() == Approx(whole.summary.at("cost_per_hour").get<double>()));
  const auto& reps = split.summary.at("replicas");
  REQUIRE(reps.size() == 4);
  CHECK(reps.at(0).at("role") == "prefill");
  CHECK(reps.at(1).at("role") == "decode");
  const double blocks = whole.summary.at("replicas").at(0).at("kv_blocks_total").get<double>();
  CHECK(reps.at(0).at("kv_blocks_total").get<double>() == Approx(0.3 * blocks).margin(1));
  CHECK(reps.at(1).at("kv_blocks_total").get<double>() == Approx(0.7 * blocks).margin(1));
}

TEST_CASE("semi-PD: under load every request completes once, deterministically, decoded on its own GPU", "[e2e][semi_pd]") {
  test::TempDir dir("semi_pd_load");
  const std::string load =
      "num_requests: 1500\n  arrival: {process: poisson, rate: 20}\n  prompt_tokens: {dist: lognormal, median: 1020, sigma: 0.6, max: 8000}\n"
      "  output_tokens: {dist: lognormal, median: 150, sigma: 0.9, max: 1000}";
  const std::string file = scenario(dir, "load", pair(0.5, "split"), "[{impl: pd_disaggregation}]", load);
  const Run a = run(file, dir, "a");
  run(file, dir, "b");
  CHECK(test::read_file(dir.file("a/requests.csv")) == test::read_file(dir.file("b/requests.csv")));
  CHECK(a.summary.at("requests").at("completed") == 1500);
  for (const auto& q : a.requests) {
    const int p = std::stoi(q.at("replica")), d = std::stoi(q.at("decode_replica"));
    CHECK(p % 2 == 0);               // arrivals go to prefill workers
    CHECK((d == p + 1 || d == p));   // decoded by its partner (or where it was, when the partner was full)
    CHECK(std::stod(q.at("kv_handoff_bytes")) == 0);
  }
}

TEST_CASE("semi-PD: bad keys fail with the key path", "[e2e][semi_pd]") {
  test::TempDir dir("semi_pd_errors");
  auto fails = [&](const std::string& name, const std::string& pool, const std::string& path, const std::string& what) {
    const auto r = test::run_hetsim("run --quiet '" + scenario(dir, name, pool, "[{impl: pd_disaggregation}]", kOne) + "' --out '" +
                                    dir.file(name) + "'");
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains(path));
    CHECK_THAT(r.output, Contains(what));
  };
  fails("role", "{name: s, device: h100-sxm5-80gb, replicas: 1, role: prefill, semi_pd: {prefill_sms: 0.5}}", "cluster.pools[0].role",
        "no role with semi_pd");
  fails("sms", "{name: s, device: h100-sxm5-80gb, replicas: 1, semi_pd: {prefill_sms: 1.5}}", "cluster.pools[0].semi_pd.prefill_sms", "1.5");
  fails("bw", "{name: s, device: h100-sxm5-80gb, replicas: 1, semi_pd: {memory_bandwidth: shared}}",
        "cluster.pools[0].semi_pd.memory_bandwidth", "split");
  // Without a controller to hand sequences over, prefill workers would keep every request.
  const auto r = test::run_hetsim("run --quiet '" +
                                  scenario(dir, "noctl", "{name: s, device: h100-sxm5-80gb, replicas: 1, semi_pd: {prefill_sms: 0.5}}", "[]", kOne) +
                                  "' --out '" + dir.file("noctl") + "'");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("pd_disaggregation"));
}
