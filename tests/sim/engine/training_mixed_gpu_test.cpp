// Node groups of different GPUs in one training job: each rank group's passes are priced on its own
// devices (the slowest of them when a group spans types), the memory check takes each stage's
// smallest device, and MFU divides by the cluster's total peak. One run per TEST_CASE (one SimGrid
// engine per process; ctest runs each case alone).
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "sim/core/config.hpp"
#include "sim/core/error.hpp"
#include "sim/engine/training_engine.hpp"
#include "sim/scenario/training_scenario.hpp"

using namespace hetsim;

namespace {

/// Llama-3-8B over two nodes, TP8 PP2: stage 0 on the first group's node, stage 1 on the second's.
sim::TrainingScenario load(const std::string& groups, const std::string& extra = "") {
  const auto doc = config::Document::load_string(fmt::format(R"(
model: llama-3-8b
cluster:
  device: h100-sxm5-80gb
  node: hgx-h100
  fabric: {{kind: rail, uplink_bandwidth: 25.6 Tbps, latency: 1 us}}
  node_groups: {}
training: {{seq_len: 4096, global_batch: 8, parallel: {{tp: 8, pp: 2, sp: true}}, recompute: selective, iterations: 2{}}}
)",
                                                             groups, extra),
                                                 "mixed_gpu_test.yaml");
  return sim::load_training_scenario(doc);
}

constexpr const char* kMixed = "[{count: 1}, {count: 1, device: a100-sxm4-80gb, node: dgx-a100}]";

}  // namespace

TEST_CASE("mixed gpus: each stage runs at its own GPUs' pace", "[training][hetero]") {
  const auto sc = load(kMixed);
  REQUIRE(sc.other_devices.size() == 1);
  CHECK(sc.other_devices[0].device->name == "a100-sxm4-80gb");
  CHECK(sc.device_type(0) == 0);
  CHECK(sc.device_type(7) == 0);
  CHECK(sc.device_type(8) == 1);
  CHECK(sc.device_type(15) == 1);
  const auto& h100 = sc.stages_of(0);
  const auto& a100 = sc.stages_of(1);
  // The same work on a slower GPU: more than twice the time (989 vs 312 dense BF16 TFLOP/s).
  CHECK(a100[1].forward.seconds > 2 * h100[1].forward.seconds);
  CHECK(a100[1].forward.flops == Approx(h100[1].forward.flops));
  const auto rec = sim::run_training(sc);
  // Each rank group computes M x (forward + backward) per iteration on its own device's prices.
  const double m = 8, its = 2;  // global batch 8, micro-batch 1, one replica
  const auto busy = [&](int g) { return rec.ranks.at(g).times.compute + rec.ranks.at(g).times.tp_comm; };
  CHECK(busy(0) == Approx(its * m * (h100[0].forward.seconds + h100[0].backward().seconds)).epsilon(1e-6));
  CHECK(busy(1) == Approx(its * m * (a100[1].forward.seconds + a100[1].backward().seconds)).epsilon(1e-6));
  // The fast stage waits for the slow one: its bubble is larger.
  CHECK(rec.ranks.at(0).times.pp_bubble > rec.ranks.at(1).times.pp_bubble);
}

TEST_CASE("mixed gpus: errors name the node group key", "[training][hetero]") {
  CHECK_THROWS_WITH(load("[{count: 1}, {count: 1, device: a100-sxm4-80gb}]"),
                    Catch::Contains("cluster.node_groups") && Catch::Contains("a node type too"));
  CHECK_THROWS_WITH(load("[{count: 1}, {count: 1, node: dgx-a100}]"), Catch::Contains("a device too"));
  CHECK_THROWS_WITH(load("[{count: 1}, {count: 1, device: l40s-48gb, node: dgx-a100}]"),
                    Catch::Contains("does not fit the slots of node 'dgx-a100'"));
  CHECK_THROWS_WITH(load("[{count: 1}, {count: 1, device: gh200-96gb, node: gh200}]"),
                    Catch::Contains("8 device slots per node"));
  CHECK_THROWS_WITH(load(kMixed, ", simulate_replicas: one"), Catch::Contains("training.simulate_replicas"));
}

TEST_CASE("mixed gpus: activation swapping's recompute lands in every device type's backward", "[training][hetero][swap]") {
  const auto yaml = [](const char* policies) {
    return fmt::format(R"(
model: llama-3-8b
cluster:
  device: h100-sxm5-80gb
  node: hgx-h100
  fabric: {{kind: rail, uplink_bandwidth: 25.6 Tbps, latency: 1 us}}
  node_groups: {}
training: {{seq_len: 4096, global_batch: 8, parallel: {{tp: 8, pp: 2, sp: true}}, iterations: 2}}
policies: {}
)",
                       kMixed, policies);
  };
  const auto plain = sim::load_training_scenario(config::Document::load_string(yaml("{}"), "plain.yaml"));
  const auto swapped = sim::load_training_scenario(
      config::Document::load_string(yaml("{activation_offload: {impl: memo, fraction: 1}}"), "swapped.yaml"));
  REQUIRE(swapped.other_devices.size() == 1);
  for (int type : {0, 1}) {
    INFO("device type " << type);
    const auto& before = plain.stages_of(type)[1];
    const auto& after = swapped.stages_of(type)[1];
    // Fraction 1: the backward recomputes the layers' linear work, at this device's prices.
    const double linear = after.recompute.seconds - after.recompute.attention;
    CHECK(linear > 0);
    CHECK(after.backward_input.seconds == Approx(before.backward_input.seconds + linear).epsilon(1e-9));
  }
}
