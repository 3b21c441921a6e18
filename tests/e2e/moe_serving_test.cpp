// MoE serving end to end: expert parallelism against tensor parallelism under balanced and skewed
// gating, and the keys' errors.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {

/// Qwen3-30B-A3B on 8 H100s (one TP8 instance), long prompts and short outputs: prefill-bound.
std::string scenario(const test::TempDir& dir, const std::string& name, bool expert_parallel, const std::string& gating) {
  return dir.write(name + ".yaml", fmt::format(R"(
model: qwen3-30b-a3b
cluster: {{device: h100-sxm5-80gb, replicas: 1, tensor_parallel: 8, expert_parallel: {}}}
policies:
  scheduler: {{impl: sarathi, max_num_seqs: 256, max_num_batched_tokens: 8192}}
  moe_gating: {}
workload:
  source: synthetic
  num_requests: 200
  arrival: {{process: poisson, rate: 4}}
  prompt_tokens: 6000
  output_tokens: 16
)",
                                                      expert_parallel, gating));
}

nlohmann::json run(const std::string& file, const test::TempDir& dir, const std::string& out) {
  const auto r = test::run_hetsim("run --quiet '" + file + "' --out '" + dir.file(out) + "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(test::read_file(dir.file(out + "/summary.json")));
}
double ttft_p50(const nlohmann::json& s) { return s["latency_s"]["ttft"]["p50"].get<double>(); }

}  // namespace

TEST_CASE("moe serving: skewed gating slows expert parallelism's prefill, not tensor parallelism's", "[e2e][moe]") {
  test::TempDir dir("moe_ep");
  const auto tp_bal = run(scenario(dir, "a", false, "{impl: balanced}"), dir, "tp_bal");
  const auto tp_zipf = run(scenario(dir, "b", false, "{impl: zipf, s: 1.2}"), dir, "tp_zipf");
  const auto ep_bal = run(scenario(dir, "c", true, "{impl: balanced}"), dir, "ep_bal");
  const auto ep_zipf = run(scenario(dir, "d", true, "{impl: zipf, s: 1.2}"), dir, "ep_zipf");
  // Under EP the busiest rank computes the hot experts' rows: prefill slows with skew.
  CHECK(ttft_p50(ep_zipf) > 1.1 * ttft_p50(ep_bal));
  // Under TP every rank computes every row; skew only changes which weights are read.
  CHECK(ttft_p50(tp_zipf) == Approx(ttft_p50(tp_bal)).epsilon(0.05));
  // zipf with s = 0 is balanced, to the byte.
  run(scenario(dir, "e", true, "{impl: zipf, s: 0}"), dir, "ep_flat");
  CHECK(ttft_p50(run(scenario(dir, "e", true, "{impl: zipf, s: 0}"), dir, "ep_flat2")) ==
        Approx(ttft_p50(ep_bal)).epsilon(1e-9));
}

TEST_CASE("moe serving: bad MoE keys are one error naming the key, exit 2", "[e2e][moe][errors]") {
  test::TempDir dir("moe_bad");
  const auto file = scenario(dir, "s", true, "{impl: balanced}");
  const std::pair<std::string, std::string> cases[] = {
      {"model=llama-3.1-8b", "cluster.expert_parallel"},                   // a dense model has no experts
      {"policies.moe_gating.impl=shares --set policies.moe_gating.loads=[1,2,3]", "one load per expert"},
      {"policies.moe_gating.impl=zipf --set policies.moe_gating.s=-1", "policies.moe_gating.s"},
      {"policies.moe_gating.impl=hot", "policies.moe_gating.impl"},
  };
  for (const auto& [set, expect] : cases) {
    INFO(set);
    const auto r = test::run_hetsim(fmt::format("run --quiet '{}' --out '{}' --set {}", file, dir.file("out"), set));
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains(expect));
  }
}
