// Prefill/decode disaggregation end to end: prefill instances hand every sequence, with its KV,
// to a decode instance over the NICs and the fabric; the handoff costs bytes / NIC bandwidth plus
// the route's latencies, and each pool runs only its phase.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {
/// One prefill and one decode H100 (or two colocated ones) on two hgx-h100 nodes and a rail fabric.
std::string scenario(const test::TempDir& dir, const std::string& file, const char* prefill_role, const char* decode_role,
                     const std::string& workload) {
  return dir.write(file, fmt::format(R"(
model: llama-3-8b
cluster:
  pools:
    - {{name: p, device: h100-sxm5-80gb, node: hgx-h100, replicas: 1, role: {}}}
    - {{name: d, device: h100-sxm5-80gb, node: hgx-h100, replicas: 1, role: {}}}
  fabric: {{kind: rail, uplink_bandwidth: 800 Gbps, latency: 1 us}}
policies:
  router: {{impl: round_robin}}
  controllers: [{{impl: pd_disaggregation}}]
workload: {}
)",
                                     prefill_role, decode_role, workload));
}
const char* kOneRequest =
    "{source: synthetic, num_requests: 1, arrival: {process: poisson, rate: 1}, prompt_tokens: {dist: fixed, value: 4000}, "
    "output_tokens: {dist: fixed, value: 2}}";
}  // namespace

TEST_CASE("pd disaggregation: the KV handoff costs bytes / NIC bandwidth + route latencies", "[e2e][pd]") {
  test::TempDir dir("pd_one");
  const auto pd = test::run_hetsim(fmt::format("run --quiet '{}' --out '{}' --set output.steps=full",
                                               scenario(dir, "pd.yaml", "prefill", "decode", kOneRequest), dir.file("pd")));
  INFO(pd.output);
  REQUIRE(pd.exit_code == 0);
  // Colocated: the same request on one instance that does both phases.
  const auto both = test::run_hetsim(fmt::format("run --quiet '{}' --out '{}'",
                                                 scenario(dir, "both.yaml", "both", "both", kOneRequest), dir.file("both")));
  INFO(both.output);
  REQUIRE(both.exit_code == 0);
  const auto a = test::read_csv(dir.file("pd/requests.csv")), b = test::read_csv(dir.file("both/requests.csv"));
  REQUIRE(a.size() == 1);
  REQUIRE(b.size() == 1);
  CHECK(a[0].at("first_token_s") == b[0].at("first_token_s"));  // the prefill is the same
  // 4000 tokens x 131072 B (Llama-3-8B: 2 x 8 KV heads x 128 x 2 B x 32 layers) over a 400 Gb/s
  // NIC (50 GB/s) on each side; latencies: tier ports, two NICs, two rail links (1 us each) at most.
  const double bytes = 4000.0 * 131072;
  const double extra = (std::stod(a[0].at("completion_s")) - std::stod(a[0].at("first_token_s"))) -
                       (std::stod(b[0].at("completion_s")) - std::stod(b[0].at("first_token_s")));
  CHECK(extra >= bytes / 50e9);
  CHECK(extra <= bytes / 50e9 + 10e-6);
  // The decode instance ran the decode step, the prefill instance only the prompt.
  const auto steps = test::read_csv(dir.file("pd/steps.csv"));
  REQUIRE(steps.size() == 2);
  CHECK((steps[0].at("replica") == "0" && steps[0].at("prefill_tokens") == "4000"));
  CHECK((steps[1].at("replica") == "1" && steps[1].at("decode_seqs") == "1"));
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
