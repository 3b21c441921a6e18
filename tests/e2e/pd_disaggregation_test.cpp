// Prefill/decode disaggregation end to end: prefill instances hand every sequence, with its KV,
// to a decode instance over the NICs and the fabric; the handoff costs bytes / NIC bandwidth plus
// the route's latencies, and each pool runs only its phase.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <map>
#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {
/// One prefill and one decode H100 (or two colocated ones) on two hgx-h100 nodes and a rail fabric;
/// `controller` adds keys to the pd_disaggregation controller, `tp` sets each pool's TP degree.
std::string scenario(const test::TempDir& dir, const std::string& file, const char* prefill_role, const char* decode_role,
                     const std::string& workload, const std::string& controller = "", int prefill_tp = 1, int decode_tp = 1) {
  return dir.write(file, fmt::format(R"(
model: llama-3-8b
cluster:
  pools:
    - {{name: p, device: h100-sxm5-80gb, node: hgx-h100, replicas: 1, role: {}, tensor_parallel: {}}}
    - {{name: d, device: h100-sxm5-80gb, node: hgx-h100, replicas: 1, role: {}, tensor_parallel: {}}}
  fabric: {{kind: rail, uplink_bandwidth: 800 Gbps, latency: 1 us}}
policies:
  router: {{impl: round_robin}}
  controllers: [{{impl: pd_disaggregation{}}}]
workload: {}
)",
                                     prefill_role, prefill_tp, decode_role, decode_tp, controller, workload));
}
const char* kOneRequest =
    "{source: synthetic, num_requests: 1, arrival: {process: poisson, rate: 1}, prompt_tokens: {dist: fixed, value: 4000}, "
    "output_tokens: {dist: fixed, value: 2}}";
// 4000 tokens x 131072 B (Llama-3-8B: 2 x 8 KV heads x 128 x 2 B x 32 layers) over a 400 Gb/s NIC
// (50 GB/s) on each side; latencies: tier ports, two NICs, two rail links (1 us each): 10 us at most.
constexpr double kBytes = 4000.0 * 131072;
constexpr double kWire = kBytes / 50e9;

struct OneRun {
  std::map<std::string, std::string> request;
  std::vector<std::map<std::string, std::string>> steps;
};
OneRun run_one(const test::TempDir& dir, const std::string& scenario_file, const std::string& out) {
  const auto r = test::run_hetsim(fmt::format("run --quiet '{}' --out '{}' --set output.steps=full", scenario_file, dir.file(out)));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto requests = test::read_csv(dir.file(out + "/requests.csv"));
  REQUIRE(requests.size() == 1);
  return {requests[0], test::read_csv(dir.file(out + "/steps.csv"))};
}
double num(const std::map<std::string, std::string>& row, const char* key) { return std::stod(row.at(key)); }
double ttft(const OneRun& r) { return num(r.request, "first_token_s") - num(r.request, "arrival_s"); }
}  // namespace

TEST_CASE("pd disaggregation: the KV handoff costs bytes / NIC bandwidth + route latencies", "[e2e][pd]") {
  test::TempDir dir("pd_one");
  // Splitwise's convention: the prompt instance answers the first token; the hand-off delays the second.
  const OneRun pd = run_one(dir, scenario(dir, "pd.yaml", "prefill", "decode", kOneRequest, ", first_token: prefill"), "pd");
  // Colocated: the same request on one instance that does both phases.
  const OneRun both = run_one(dir, scenario(dir, "both.yaml", "both", "both", kOneRequest), "both");
  CHECK(pd.request.at("first_token_s") == both.request.at("first_token_s"));  // the prefill is the same
  const double extra = (num(pd.request, "completion_s") - num(pd.request, "first_token_s")) -
                       (num(both.request, "completion_s") - num(both.request, "first_token_s"));
  CHECK(extra >= kWire);
  CHECK(extra <= kWire + 10e-6);
  // requests.csv: where it decoded, the bytes and the time of the hand-off.
  CHECK(pd.request.at("decode_replica") == "1");
  CHECK(num(pd.request, "kv_handoff_bytes") == kBytes);
  CHECK(num(pd.request, "kv_handoff_s") == Approx(extra).epsilon(1e-9));
  // The decode instance ran the decode step, the prefill instance only the prompt.
  REQUIRE(pd.steps.size() == 2);
  CHECK((pd.steps[0].at("replica") == "0" && pd.steps[0].at("prefill_tokens") == "4000"));
  CHECK((pd.steps[1].at("replica") == "1" && pd.steps[1].at("decode_seqs") == "1"));
}

TEST_CASE("pd disaggregation: on an idle cluster TTFT = prefill + KV transfer, less when streamed layer by layer but "
          "never below the larger of the two, and TPOT is the decode instance's step",
          "[e2e][pd]") {
  test::TempDir dir("pd_ttft");
  const OneRun both = run_one(dir, scenario(dir, "both.yaml", "both", "both", kOneRequest), "both");
  const OneRun after = run_one(dir, scenario(dir, "after.yaml", "prefill", "decode", kOneRequest), "after");
  const OneRun setup = run_one(dir, scenario(dir, "setup.yaml", "prefill", "decode", kOneRequest, ", setup: 20 us"), "setup");
  const OneRun streamed =
      run_one(dir, scenario(dir, "stream.yaml", "prefill", "decode", kOneRequest, ", transfer: layerwise"), "stream");
  const double prefill = ttft(both);  // idle: no queueing, the prompt's one step
  const double transfer = num(after.request, "kv_handoff_s");
  CHECK(transfer >= kWire);
  CHECK(transfer <= kWire + 10e-6);
  // Not overlapped: the client sees the first token when the KV has landed on the decode instance.
  CHECK(ttft(after) == Approx(prefill + transfer).epsilon(1e-12));
  // A 20 us setup per flow is 20 us more on an idle route.
  CHECK(num(setup.request, "kv_handoff_s") - transfer == Approx(20e-6).epsilon(1e-6));
  // Streamed: only the last of 32 layers' share is left after the prefill.
  CHECK(ttft(streamed) < ttft(after));
  CHECK(ttft(streamed) >= std::max(prefill, transfer));
  CHECK(ttft(streamed) - prefill == Approx(kWire / 32).margin(10e-6));
  CHECK(num(streamed.request, "kv_handoff_bytes") == Approx(kBytes / 32).epsilon(1e-12));
  // TPOT (2 output tokens: completion - first token) is the decode instance's one decode step.
  for (const OneRun* r : {&after, &streamed}) {
    REQUIRE(r->steps.size() == 2);
    REQUIRE(r->steps[1].at("replica") == "1");
    CHECK(num(r->request, "completion_s") - num(r->request, "first_token_s") == Approx(num(r->steps[1], "duration_s")).epsilon(1e-9));
  }
}

TEST_CASE("pd disaggregation: KV re-shards between TP degrees, and short uncached prompts can stay where they were prefilled",
          "[e2e][pd]") {
  test::TempDir dir("pd_reshard");
  // TP2 prefill -> TP1 decode and TP1 -> TP2: the same KV crosses (each rank sends or receives its share).
  for (const auto& [ptp, dtp] : {std::pair{2, 1}, std::pair{1, 2}, std::pair{2, 2}}) {
    INFO("prefill TP" << ptp << " -> decode TP" << dtp);
    const OneRun r = run_one(dir, scenario(dir, fmt::format("tp{}{}.yaml", ptp, dtp), "prefill", "decode", kOneRequest, "", ptp, dtp),
                             fmt::format("tp{}{}", ptp, dtp));
    CHECK(num(r.request, "kv_handoff_bytes") == kBytes);
    CHECK(r.request.at("decode_replica") == "1");
    CHECK(num(r.request, "kv_handoff_s") >= kWire / std::max(ptp, dtp));
  }
  // A 4,000-token prompt under a 5,000-token threshold is not handed off: it decodes on the prefill instance.
  const OneRun kept = run_one(dir, scenario(dir, "kept.yaml", "prefill", "decode", kOneRequest, ", min_uncached_tokens: 5000"), "kept");
  CHECK(kept.request.at("decode_replica") == "0");
  CHECK(kept.request.at("kv_handoff_s").empty());
  CHECK(num(kept.request, "kv_handoff_bytes") == 0);
}

TEST_CASE("pd disaggregation: under load every request completes on a decode instance, pools run only their phase",
          "[e2e][pd]") {
  const auto r = test::run_hetsim("run --quiet '" + test::source_dir() + "/scenarios/pd_disaggregation.yaml' --out '" +
                                  test::TempDir("pd_load").str() + "'");
  test::TempDir out("pd_load_out");
  const auto run = test::run_hetsim("run --quiet '" + test::source_dir() + "/scenarios/pd_disaggregation.yaml' --out '" +
                                    out.str() + "' --set output.steps=full");
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  std::ifstream in(out.file("summary.json"));
  const auto s = nlohmann::json::parse(in);
  CHECK(s["requests"]["completed"] == 600);
  const auto& pools = s["pools"];
  REQUIRE(pools.size() == 2);
  CHECK(pools[0]["name"] == "prefill");
  CHECK(pools[0]["completed"] == 0);
  CHECK(pools[1]["completed"] == 600);
  for (const auto& row : test::read_csv(out.file("steps.csv"))) {
    const int replica = std::stoi(row.at("replica"));
    if (replica < 2) CHECK(row.at("decode_seqs") == "0");   // prefill pool: prompts only
    else CHECK(row.at("prefill_tokens") == "0");            // decode pool: decodes only
  }
}

TEST_CASE("pd disaggregation: roles without a controller, or no pool taking arrivals, are errors", "[e2e][pd][errors]") {
  test::TempDir dir("pd_errors");
  const std::string no_controller = dir.write("a.yaml", R"(
model: llama-3-8b
cluster:
  pools:
    - {device: h100-sxm5-80gb, role: prefill}
    - {device: h100-sxm5-80gb, role: decode}
workload: {source: synthetic, num_requests: 5, arrival: {process: poisson, rate: 1}, prompt_tokens: {dist: fixed, value: 10}, output_tokens: {dist: fixed, value: 10}}
)");
  auto r = test::run_hetsim("validate '" + no_controller + "'");
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("cluster") && Contains("pd_disaggregation"));
  const std::string bad_role = dir.write("b.yaml", R"(
model: llama-3-8b
cluster: {device: h100-sxm5-80gb, role: decoder}
workload: {source: synthetic, num_requests: 5, arrival: {process: poisson, rate: 1}, prompt_tokens: {dist: fixed, value: 10}, output_tokens: {dist: fixed, value: 10}}
)");
  r = test::run_hetsim("validate '" + bad_role + "'");
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("cluster.role") && Contains("decoder"));
}
