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

TEST_CASE("moe serving: DeepSeek-V3 with data-parallel attention and EP32 over four nodes beats two TP16 instances",
          "[e2e][moe]") {
  test::TempDir dir("moe_wide_ep");
  const std::string file = test::source_dir() + "/scenarios/deepseek_v3_wide_ep.yaml";
  const auto wide = run(file, dir, "wide");
  const auto tp = test::run_hetsim("run --quiet '" + file + "' --set cluster.data_parallel=1 --set cluster.tensor_parallel=16 "
                                   "--set cluster.replicas=2 --set cluster.expert_parallel=false --out '" + dir.file("tp") + "'");
  INFO(tp.output);
  REQUIRE(tp.exit_code == 0);
  const auto tp16 = nlohmann::json::parse(test::read_file(dir.file("tp/summary.json")));
  CHECK(wide["gpus"].get<int>() == 32);
  CHECK(tp16["gpus"].get<int>() == 32);
  CHECK(wide["requests"]["completed"].get<int>() == 3000);
  CHECK(wide["memory"][0]["kv_ranks"].get<int>() == 32);
  // Each rank holds 1/32 of the routed experts: much less than TP16's 1/16 of everything.
  CHECK(wide["memory"][0]["weights_bytes"].get<double>() < tp16["memory"][0]["weights_bytes"].get<double>());
  CHECK(wide["throughput"]["output_tokens_per_s"].get<double>() > 1.5 * tp16["throughput"]["output_tokens_per_s"].get<double>());
}

TEST_CASE("moe serving: EPLB's redundant experts win back what skewed gating costs wide EP", "[e2e][moe][placement]") {
  test::TempDir dir("moe_eplb");
  const std::string file = "'" + test::source_dir() + "/scenarios/deepseek_v3_wide_ep.yaml' --set workload.num_requests=1500";
  auto tps = [](const nlohmann::json& s) { return s["throughput"]["output_tokens_per_s"].get<double>(); };
  auto go = [&](const std::string& sets, const std::string& out) {
    const auto r = test::run_hetsim("run --quiet " + file + " " + sets + " --out '" + dir.file(out) + "'");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    return nlohmann::json::parse(test::read_file(dir.file(out + "/summary.json")));
  };
  const std::string zipf = "--set policies.moe_gating.impl=zipf";
  const std::string eplb = " --set policies.expert_placement.impl=eplb --set policies.expert_placement.redundant_experts=32";
  const auto balanced = go("", "balanced");
  const auto skewed = go(zipf, "skewed");
  const auto linear = go(zipf + " --set policies.expert_placement.impl=linear", "linear");
  const auto replicated = go(zipf + eplb, "replicated");
  CHECK(tps(skewed) < 0.9 * tps(balanced));
  CHECK(tps(linear) == Approx(tps(skewed)).epsilon(1e-12));  // linear is the default placement
  CHECK(tps(replicated) > 1.1 * tps(skewed));
  CHECK(tps(replicated) <= tps(balanced));
  // One redundant expert per rank: 58 MoE layers x (gate, up, down) of 7168 x 2048 in FP8.
  const double extra = 58.0 * 3 * 7168 * 2048;
  CHECK(replicated["memory"][0]["weights_bytes"].get<double>() ==
        Approx(skewed["memory"][0]["weights_bytes"].get<double>() + extra));
  // Placement needs expert-parallel ranks, and a redundancy that divides over them.
  const auto no_ep = test::run_hetsim("validate " + file + eplb + " --set cluster.data_parallel=1 --set cluster.tensor_parallel=16 "
                                      "--set cluster.replicas=2 --set cluster.expert_parallel=false");
  CHECK(no_ep.exit_code == 2);
  CHECK_THAT(no_ep.output, Contains("policies.expert_placement") && Contains("expert_parallel"));
  const auto odd = test::run_hetsim("validate " + file + eplb + " --set policies.expert_placement.redundant_experts=30");
  CHECK(odd.exit_code == 2);
  CHECK_THAT(odd.output, Contains("redundant_experts") && Contains("e.g. 32"));
}

TEST_CASE("moe serving: two-batch overlap raises wide EP's throughput and cuts its TTFT", "[e2e][moe][tbo]") {
  test::TempDir dir("moe_tbo");
  const std::string file = "'" + test::source_dir() + "/scenarios/deepseek_v3_wide_ep.yaml' --set workload.num_requests=1500";
  auto go = [&](const std::string& sets, const std::string& out) {
    const auto r = test::run_hetsim("run --quiet " + file + " " + sets + " --out '" + dir.file(out) + "'");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    return nlohmann::json::parse(test::read_file(dir.file(out + "/summary.json")));
  };
  const auto off = go("", "off");
  const auto on = go("--set cluster.two_batch_overlap=true", "on");
  CHECK(on["throughput"]["output_tokens_per_s"].get<double>() > 1.05 * off["throughput"]["output_tokens_per_s"].get<double>());
  CHECK(ttft_p50(on) < 0.9 * ttft_p50(off));
  CHECK(on["requests"]["completed"] == off["requests"]["completed"]);
  // It overlaps wide EP's all-to-alls: without data-parallel ranks there are none.
  const auto r = test::run_hetsim("validate " + file + " --set cluster.two_batch_overlap=true --set cluster.data_parallel=1 "
                                  "--set cluster.tensor_parallel=8");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("cluster.two_batch_overlap") && Contains("data_parallel"));
  // DeepEP's dispatch: the same tokens served, faster, its rows crossing the NICs once per node.
  const auto deepep = go("--set cluster.moe_dispatcher=deepep", "deepep");
  CHECK(deepep["throughput"]["output_tokens_per_s"].get<double>() > off["throughput"]["output_tokens_per_s"].get<double>());
  CHECK(ttft_p50(deepep) < ttft_p50(off));
  CHECK(deepep["requests"]["completed"] == off["requests"]["completed"]);
  const auto narrow = test::run_hetsim("validate " + file + " --set cluster.moe_dispatcher=deepep --set cluster.data_parallel=1 "
                                       "--set cluster.tensor_parallel=8");
  CHECK(narrow.exit_code == 2);
  CHECK_THAT(narrow.output, Contains("cluster.moe_dispatcher") && Contains("data_parallel"));
}

TEST_CASE("moe serving: experts offloaded to host memory leave GPU memory, and each cached expert speeds decode",
          "[e2e][moe][expert_offload]") {
  test::TempDir dir("moe_expert_offload");
  const std::string file = "'" + test::source_dir() + "/scenarios/moe_expert_offload.yaml' --set workload.concurrency=1 "
                           "--set workload.num_requests=4";
  auto go = [&](const std::string& sets, const std::string& out) {
    const auto r = test::run_hetsim("run --quiet " + file + " " + sets + " --out '" + dir.file(out) + "'");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    return nlohmann::json::parse(test::read_file(dir.file(out + "/summary.json")));
  };
  auto tpot = [](const nlohmann::json& s) { return s["latency_s"]["tpot"]["p50"].get<double>(); };
  auto weights = [](const nlohmann::json& s) { return s["memory"][0]["weights_bytes"].get<double>(); };
  const auto none = go("--set serving.expert_offload.cached_experts=0", "c0");
  const auto two = go("--set serving.expert_offload.cached_experts=2", "c2");
  const auto three = go("", "c3");
  CHECK(tpot(three) < tpot(two));
  CHECK(tpot(two) < tpot(none));
  // Each cached expert of each of 32 layers: 3 x 4096 x 14336 BF16 on the GPU.
  CHECK(weights(three) - weights(two) == Approx(32 * 3.0 * 4096 * 14336 * 2));
  // Batch 1, nothing cached: 2 experts x 32 layers cross 32 GB/s each token (0.70 s), plus the GPU's work.
  CHECK(tpot(none) > 2 * 32 * 3.0 * 4096 * 14336 * 2 / 32e9);
  CHECK(tpot(none) < 1.2 * 2 * 32 * 3.0 * 4096 * 14336 * 2 / 32e9);
  auto fails = [&](const std::string& sets, const std::string& needle) {
    const auto r = test::run_hetsim("validate " + file + " " + sets);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains(needle));
  };
  fails("--set serving.expert_offload.cached_experts=9", "serving.expert_offload.cached_experts");
  fails("--set model=llama-3.1-8b", "not an MoE model");
  fails("--set cluster.expert_parallel=true --set cluster.tensor_parallel=2", "expert_parallel");
  // The uncached experts live in the node's DRAM: 5 of Mixtral's 8 x 32 layers of 3 x 4096 x 14336
  // BF16 (56.4 GB) do not fit 32 GB, and do fit 64 GB.
  auto node = [](const char* dram) {
    return fmt::format("--set 'cluster.node={{tiers: [{{name: gpu0.hbm, kind: hbm, capacity: 48 GB, bandwidth: 864 GB/s}}, "
                       "{{name: host.dram, kind: dram, capacity: {}, bandwidth: 100 GB/s}}], links: [{{name: pcie0, kind: pcie, "
                       "between: [gpu0.hbm, host.dram], bandwidth: 32 GB/s, latency: 1 us}}]}}'",
                       dram);
  };
  fails(node("32 GB"), "56.4 GB of uncached experts in host.dram, which holds 32.0 GB");
  CHECK(test::run_hetsim("validate " + file + " " + node("64 GB")).exit_code == 0);
}

TEST_CASE("moe serving: data-parallel attention needs experts, and a node when it spans nodes", "[e2e][moe][errors]") {
  test::TempDir dir("moe_dp_errors");
  auto fails = [&](const std::string& name, const std::string& cluster, const std::string& model = "qwen3-30b-a3b") {
    const std::string file = dir.write(name + ".yaml", fmt::format("model: {}\ncluster: {}\nworkload: {{source: synthetic, "
                                                                   "num_requests: 2}}\n",
                                                                   model, cluster));
    const auto r = test::run_hetsim("run --quiet '" + file + "' --out '" + dir.file(name) + "'");
    CHECK(r.exit_code == 2);
    return r.output;
  };
  CHECK_THAT(fails("dense", "{device: h100-sxm5-80gb, data_parallel: 4}", "llama-3.1-8b"), Contains("cluster.data_parallel"));
  CHECK_THAT(fails("no_ep", "{device: h100-sxm5-80gb, data_parallel: 4}"), Contains("expert_parallel: true"));
  CHECK_THAT(fails("no_node", "{device: h100-sxm5-80gb, data_parallel: 16, expert_parallel: true}"),
             Contains("cluster.data_parallel") && Contains("node"));
  CHECK_THAT(fails("uneven", "{device: h100-sxm5-80gb, node: hgx-h100, data_parallel: 12, expert_parallel: true}"),
             Contains("cluster.expert_parallel") && Contains("12 ranks"));
}
