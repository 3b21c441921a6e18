// Sequence sharding in the training engine: context-parallel ranks reduce their gradients with the
// data-parallel ones (they hold the same weights), ZeRO shards over both, and hybrid_dp with one
// sequence-long document per sequence places each over its cp ranks as static CP does, at the
// same pass costs, while with short documents it rings none of them.
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
  const auto doc = config::Document::load_string(yaml, "sharding_test.yaml");
  return sim::load_training_scenario(doc);
}

/// Llama-3-8B's layers (4 of them, tiny vocabulary) at 32k tokens per sequence, TP2 x CP4 x DP2
/// on two HGX H100 servers, sequences of `documents`-token documents, sharded by `sharding`.
std::string long_context(const std::string& documents, const std::string& sharding) {
  return R"(
model: {preset: llama-3-8b, name: uniform-8b-4-layers, vocab_size: 8, num_hidden_layers: 4, max_position_embeddings: 32768}
cluster: {device: h100-sxm5-80gb, node: hgx-h100, fabric: {kind: rail, uplink_bandwidth: 25.6 Tbps, latency: 1 us}}
training: {seq_len: 32768, global_batch: 4, parallel: {tp: 2, cp: 4, dp: 2, sp: true}, recompute: full, iterations: 2,
           simulate_replicas: all, documents: {lengths: )" +
         documents + R"(}}
policies: {sequence_sharding: )" +
         sharding + "}\n";
}

}  // namespace

TEST_CASE("training sharding: context-parallel ranks reduce their gradients together, as data-parallel ones do",
          "[training][sharding]") {
  // Two nodes of one H100 each, cp 2 and dp 1: the ring over the two cp ranks (one NIC each, one
  // rail) takes its alpha-beta time after the backward, as two data-parallel replicas' would.
  const auto sc = load(std::string(test::kOneGpuNodes) + R"(
model: {preset: llama-3-8b, name: llama-3-8b-4-layers, num_hidden_layers: 4}
training:
  seq_len: 2048
  global_batch: 1
  parallel: {cp: 2}
  overlap: {grad_reduce: false}
  iterations: 1
)");
  const auto rec = sim::run_training(sc);
  const double alpha = 2 * test::kOneGpuNodesAlpha, bw = test::kOneGpuNodesBandwidth, n = sc.stages[0].grad_bytes;
  CHECK(rec.ranks.at(0).times.dp_comm == Approx(2 * alpha + n / bw).epsilon(1e-9));
}

TEST_CASE("training sharding: ZeRO shards the optimizer over the data- and context-parallel ranks",
          "[training][sharding]") {
  const auto plan = [](int cp) {
    return load(fmt::format(R"(
model: {{preset: llama-3-8b}}
cluster: {{device: h100-sxm5-80gb, node: hgx-h100}}
training: {{seq_len: 8192, global_batch: 8, parallel: {{tp: 2, cp: {}, dp: 2}}, zero: 1}}
)",
                                        cp));
  };
  const auto one = plan(1), two = plan(2);
  CHECK(two.memory.at(0).optimizer_states() == Approx(one.memory.at(0).optimizer_states() / 2));
  CHECK(two.memory.at(0).weights == Approx(one.memory.at(0).weights));
}

TEST_CASE("training sharding: hybrid_dp with sequence-long documents rings each over its cp ranks at static CP's "
          "pass costs",
          "[training][sharding]") {
  const auto fixed = long_context("32768", "{impl: static_cp}");
  const auto hybrid = load(long_context("32768", "{impl: hybrid_dp}"));
  REQUIRE(hybrid.sharding != nullptr);
  CHECK(hybrid.job.plan.dp == 8);
  CHECK(hybrid.job.plan.cp == 1);
  CHECK(hybrid.job.seq_len == 8192);
  // Every document is one ring of 4 adjacent pool ranks (a static CP group).
  for (const auto& batch : hybrid.sharding->iterations) {
    REQUIRE(batch.rings().size() == 4);  // 2 replicas x 2 sequences
    for (const auto& ring : batch.rings()) {
      REQUIRE(ring.ranks.size() == 4);
      CHECK(ring.ranks.front() % 4 == 0);
    }
  }
  const auto stat = load(fixed);
  const auto& st = stat.stages.at(0);
  const auto& base = hybrid.stages.at(0);
  using training::PassKind;
  const auto fwd = hybrid.sharding->pass(0, 0, 0, 0, PassKind::forward, base.forward);
  const auto bwd = hybrid.sharding->pass(0, 0, 0, 0, PassKind::backward_input, base.backward_input);
  CHECK(fwd.seconds == Approx(st.forward.seconds).epsilon(0.01));
  CHECK(fwd.cp_comm == Approx(st.forward.cp_comm).epsilon(0.01).margin(1e-6));
  CHECK(fwd.flops == Approx(st.forward.flops).epsilon(1e-3));
  CHECK(bwd.seconds == Approx(st.backward_input.seconds).epsilon(0.01));
  // The run: every rank computes its two micro-batches per iteration at those costs.
  const auto rec = sim::run_training(hybrid);
  REQUIRE(rec.ranks.size() == 8);
  const double per_iteration = 2 * (st.forward.seconds + st.backward().seconds);
  for (const auto& r : rec.ranks) {
    const auto& t = r.times;
    CHECK(t.compute + t.tp_comm + t.cp_comm == Approx(2 * per_iteration).epsilon(0.01));
  }
  CHECK(rec.attention_share_mean == Approx(1).epsilon(1e-3));
}

TEST_CASE("training sharding: hybrid_dp computes short documents whole, with no K/V exchange", "[training][sharding]") {
  const auto sc = load(long_context("2048", "{impl: hybrid_dp}"));
  for (const auto& batch : sc.sharding->iterations) CHECK(batch.rings().empty());
  const auto rec = sim::run_training(sc);
  for (const auto& r : rec.ranks) CHECK(r.times.cp_comm == 0);
  // The same attention work as static packing of the same documents: 16 of 2048 per 32k sequence.
  CHECK(rec.attention_share_mean == Approx(16 * 2048.0 * 2049 / (32768.0 * 32769)));
}
