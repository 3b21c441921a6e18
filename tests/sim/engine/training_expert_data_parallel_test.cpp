// Expert parallelism with ZeRO and the expert-data-parallel group: the routed experts a rank holds
// are replicated over tp x cp x dp / ep ranks only (dp x cp / ep at tp 1), so ZeRO shards their states over those and their
// gradients reduce there; the dense parameters shard and reduce over all dp x cp ranks.
// One run per TEST_CASE: SimGrid allows one engine per process (ctest runs each case alone).
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "sim/core/config.hpp"
#include "sim/engine/training_engine.hpp"
#include "sim/scenario/training_scenario.hpp"
#include "sim/engine/one_gpu_nodes.hpp"

using namespace hetsim;

namespace {

sim::TrainingScenario load(const std::string& yaml) {
  const auto doc = config::Document::load_string(yaml, "expert_dp_test.yaml");
  return sim::load_training_scenario(doc);
}

sim::TrainingScenario mixtral(int zero) {
  return load(fmt::format(R"(
model: mixtral-8x7b
cluster: {{device: h100-sxm5-80gb, node: hgx-h100, fabric: {{kind: rail, uplink_bandwidth: 3.2 Tbps}}}}
training: {{seq_len: 4096, global_batch: 64, parallel: {{tp: 1, pp: 4, dp: 16, ep: 8}}, zero: {}, recompute: full}}
)",
                          zero));
}

}  // namespace

TEST_CASE("expert data parallelism: ZeRO shards dense states over dp x cp and expert states over dp x cp / ep",
          "[training][moe]") {
  const auto none = mixtral(0), one = mixtral(1), two = mixtral(2);
  for (std::size_t s = 0; s < none.memory.size(); ++s) {
    const auto& m0 = none.memory[s];
    REQUIRE(m0.expert_states > 0);
    REQUIRE(m0.expert_states < m0.optimizer_states());
    // Stage 1: 16 ranks share the dense states, 2 (16 / ep 8) each expert's.
    const double sharded = (m0.optimizer_states() - m0.expert_states) / 16 + m0.expert_states / 2;
    CHECK(one.memory[s].optimizer_states() == Approx(sharded));
    CHECK(one.memory[s].gradients == Approx(m0.gradients));
    CHECK(one.memory[s].weights == Approx(m0.weights));
    // Stage 2: the gradients too, by the same split.
    const double expert_grads = m0.gradients * m0.expert_weights / m0.weights;  // bf16 weights, fp32 grads alike per parameter
    CHECK(two.memory[s].gradients == Approx((m0.gradients - expert_grads) / 16 + expert_grads / 2).epsilon(1e-6));
  }
}

TEST_CASE("expert data parallelism: the routed experts' gradients stay out of the dense ring", "[training][moe]") {
  // Two nodes of one H100 each, dp 2 and ep 2: each rank holds its own experts (no replica to
  // reduce with), so the ring after the backward carries the dense gradients only, at its alpha-beta time.
  const auto sc = load(std::string(test::kOneGpuNodes) + R"(
model: {preset: mixtral-8x7b, name: mixtral-1-layer, num_hidden_layers: 1}
training:
  seq_len: 2048
  global_batch: 2
  parallel: {dp: 2, ep: 2}
  overlap: {grad_reduce: false}
  iterations: 1
)");
  const auto& st = sc.stages.at(0);
  REQUIRE(st.expert_grad_bytes > 0.5 * st.grad_bytes);  // the experts are most of the layer
  const auto rec = sim::run_training(sc);
  const double alpha = 2 * test::kOneGpuNodesAlpha, bw = test::kOneGpuNodesBandwidth, dense = st.grad_bytes - st.expert_grad_bytes;
  for (const auto& r : rec.ranks) CHECK(r.times.dp_comm == Approx(2 * alpha + dense / bw).epsilon(1e-9));
}

TEST_CASE("expert data parallelism folded over tp: the experts' gradients ring over tp x dp / ep ranks", "[training][moe]") {
  // Four one-GPU nodes, tp 2 (sequence parallel) x dp 2 with ep 2 folded over them: stage ranks
  // 0..3 (tp fastest), expert groups {0, 1} and {2, 3}. Ranks 0 and 2 hold the same experts, and
  // the same dense shard (tensor position 0): the expert ring and the dense ring join the same two
  // nodes, so their flows share those links and the reduction takes alpha-beta time for both.
  const auto sc = load(std::string(test::kOneGpuNodes) + R"(
model: {preset: mixtral-8x7b, name: mixtral-1-layer, num_hidden_layers: 1}
training:
  seq_len: 2048
  global_batch: 2
  parallel: {tp: 2, sp: true, dp: 2, ep: 2}
  overlap: {grad_reduce: false}
  iterations: 1
)");
  const auto& st = sc.stages.at(0);
  // Whole experts: E / ep = 4 of the layer's 8 on each rank, not split by tp.
  const double expert = 3.0 * 4096 * 14336;
  CHECK(st.expert_grad_bytes == Approx(4 * expert * 4));  // FP32 gradients
  const auto rec = sim::run_training(sc);
  const double alpha = 2 * test::kOneGpuNodesAlpha, bw = test::kOneGpuNodesBandwidth;
  REQUIRE(rec.ranks.size() == 2);
  for (const auto& r : rec.ranks) CHECK(r.times.dp_comm == Approx(2 * alpha + st.grad_bytes / bw).epsilon(1e-9));
}
