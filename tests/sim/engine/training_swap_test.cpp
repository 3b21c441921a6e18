// Activation swapping in the training engine against the analytic times of an idle node: a
// forward's swap to host starts after its first layer and the pass ends at max(f, f/L + X); a
// backward's fetch starts with it and the pass ends at max(b, X + b/L), X the idle copy time. The
// wait beyond the passes is the exposed swap. One run per TEST_CASE (one SimGrid engine per process).
#include <catch2/catch.hpp>

#include <algorithm>

#include <fmt/format.h>

#include "sim/core/config.hpp"
#include "sim/engine/training_engine.hpp"
#include "sim/scenario/training_scenario.hpp"

using namespace hetsim;

namespace {

/// One GPU whose only way to host memory is a PCIe link of `pcie`.
sim::TrainingScenario load(const std::string& pcie, const std::string& fraction) {
  const auto doc = config::Document::load_string(fmt::format(R"(
model: {{preset: llama-3-8b, name: llama-3-8b-4-layers, num_hidden_layers: 4}}
cluster:
  device: h100-sxm5-80gb
  node:
    name: one-gpu-slow-host
    tiers:
      - {{name: gpu0.hbm, kind: hbm, capacity: 80 GB, bandwidth: 3.35 TB/s}}
      - {{name: host.dram, kind: dram, capacity: 1 TB, bandwidth: 300 GB/s, latency: 100 ns}}
    links:
      - {{name: pcie0, kind: pcie, between: [gpu0.hbm, host.dram], bandwidth: {}, latency: 1 us}}
training: {{seq_len: 8192, global_batch: 2, iterations: 2}}
policies: {{activation_offload: {{impl: memo, fraction: {}}}}}
)",
                                                             pcie, fraction),
                                                 "swap_test.yaml");
  return sim::load_training_scenario(doc);
}

}  // namespace

TEST_CASE("training swap: each pass's copy takes its idle time and what the pass cannot hide is exposed",
          "[training][swap]") {
  const auto sc = load("2 GB/s", "1");
  REQUIRE(sc.swap);
  const auto& stage = sc.stages.at(0);
  const double bytes = sc.swap->bytes.at(0);
  // Every token's input and attention output of the 4 layers: 8192 x 4 x (2h + 2h + 4 x heads).
  CHECK(bytes == Approx(8192.0 * 4 * (4 * 4096 + 4 * 32)));
  const double X = sc.node->topology.idle_transfer_time("gpu0.hbm", "host.dram", bytes, 1 << 20);
  const double f = stage.forward.seconds, b = stage.backward().seconds, L = stage.layers;
  REQUIRE(X > f);  // the case is one where the forward cannot hide the swap
  sim::TrainingOptions options;
  options.timeline = true;
  const auto rec = sim::run_training(sc, options);
  int out = 0, in = 0;
  double forward_start = -1, backward_start = -1;
  for (const auto& span : rec.timeline) {
    if (span.name == "forward") forward_start = span.start;
    if (span.name == "backward") backward_start = span.start;
    if (span.name == "activations_to_host") {
      ++out;
      CHECK(span.end - span.start == Approx(X).epsilon(1e-6));
      CHECK(span.start == Approx(forward_start + f / L).epsilon(1e-9));
    }
    if (span.name == "activations_from_host") {
      ++in;
      CHECK(span.end - span.start == Approx(X).epsilon(1e-6));
      CHECK(span.start == Approx(backward_start).epsilon(1e-9));
    }
  }
  CHECK(out == 4);  // two micro-batches, two iterations
  CHECK(in == 4);
  const double exposed = std::max(0.0, f / L + X - f) + std::max(0.0, X + b / L - b);
  CHECK(rec.ranks.at(0).times.offload == Approx(4 * exposed).epsilon(1e-6));
  // The backward recomputes the layers' linear work (fraction 1: no attention).
  CHECK(stage.backward_input.seconds > 0);
  CHECK(sc.swap->shape.recompute_attention == 0);
}

TEST_CASE("training swap: a fast link hides the swap entirely, and the step pays only the recompute",
          "[training][swap]") {
  const auto sc = load("64 GB/s", "auto");
  REQUIRE(sc.swap);
  CHECK(sc.swap->automatic);
  CHECK(sc.swap->fraction == 1);  // 64 GB/s moves a layer's 0.5 GiB in under its forward
  const auto rec = sim::run_training(sc);
  CHECK(rec.ranks.at(0).times.offload == Approx(0).margin(1e-12));
  const auto& stage = sc.stages.at(0);
  const double passes = 2 * (stage.forward.seconds + stage.backward().seconds) + stage.optimizer;
  CHECK(rec.iterations.back().end - rec.iterations.back().start == Approx(passes).epsilon(1e-6));
}
