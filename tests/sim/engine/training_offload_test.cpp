// Optimizer offload in the training engine against the analytic times of an idle node: each
// phase of the step is a copy over the route's bottleneck plus its latency, or the CPU's update;
// phases add up, lanes of a phase overlap; two GPUs offloading through one PCIe switch share its
// uplink. One run per TEST_CASE: SimGrid allows one engine per process (ctest runs each case alone).
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "sim/core/config.hpp"
#include "sim/engine/training_engine.hpp"
#include "sim/scenario/training_scenario.hpp"

using namespace hetsim;

namespace {

sim::TrainingScenario load(const std::string& policy, int dp, int zero) {
  const auto doc = config::Document::load_string(fmt::format(R"(
model: {{preset: llama-3-8b, name: llama-3-8b-4-layers, num_hidden_layers: 4}}
cluster: {{device: h100-sxm5-80gb, node: hgx-h100}}
training: {{seq_len: 2048, global_batch: {}, parallel: {{dp: {}}}, zero: {}, grad_dtype: bf16, iterations: 2}}
policies: {{optimizer_offload: {}}}
)",
                                                             2 * dp, dp, zero, policy),
                                                 "offload_test.yaml");
  return sim::load_training_scenario(doc);
}

constexpr double kRequest = 1 << 20;  // the engine's request size for block devices

/// Idle time of `bytes` between two tiers of the node.
double idle(const sim::TrainingScenario& sc, const char* from, const char* to, double bytes) {
  return sc.node->topology.idle_transfer_time(from, to, bytes, kRequest);
}

}  // namespace

TEST_CASE("training offload: a ZeRO-Offload step is gradients down, the CPU's update, weights up",
          "[training][offload]") {
  const auto sc = load("{impl: zero_offload}", 1, 0);
  REQUIRE(sc.offload);
  const auto& o = *sc.offload;
  const double n = o.shard_parameters.at(0);
  CHECK(n == Approx(sc.memory[0].parameters));
  // The states left the device and are what the optimizer keeps per parameter: fp32 master + 2 moments.
  CHECK(sc.memory[0].master_weights == 0);
  CHECK(sc.memory[0].optimizer_moments == 0);
  CHECK(sc.memory[0].offloaded_states == Approx(12 * n));
  CHECK(o.without.at(0).optimizer_states() == Approx(12 * n));
  CHECK(o.without.at(0).total() - sc.memory[0].total() > 12 * n);  // and the reserve on them
  CHECK_FALSE(o.needed);
  const double expected = idle(sc, "gpu0.hbm", "host.dram", 2 * n) + o.cpu_seconds.at(0) +
                          idle(sc, "host.dram", "gpu0.hbm", 2 * n);
  const auto rec = sim::run_training(sc);
  CHECK(rec.offload_step == Approx(expected).epsilon(1e-6));
  CHECK(rec.ranks[0].times.optimizer == Approx(2 * expected).epsilon(1e-6));  // both iterations
  CHECK(o.cpu_seconds.at(0) > 0);
}

TEST_CASE("training offload: two GPUs offloading through one PCIe switch share its uplink",
          "[training][offload]") {
  // dp 2 with ZeRO-1: gpu0 and gpu1 sit behind pcie_sw0, whose one uplink carries both shards.
  const auto sc = load("{impl: zero_offload}", 2, 1);
  const auto& o = *sc.offload;
  const double shard = 2 * o.shard_parameters.at(0);  // bf16 gradients of one GPU's shard
  const double one = idle(sc, "gpu0.hbm", "host.dram", shard);
  const double both = idle(sc, "gpu0.hbm", "host.dram", 2 * shard);  // the shared uplink binds
  sim::TrainingOptions options;
  options.timeline = true;
  const auto rec = sim::run_training(sc, options);
  int seen = 0;
  for (const auto& span : rec.timeline)
    if (span.name == "gradients_to_host") {
      ++seen;
      CHECK(span.end - span.start > 1.9 * one);
      CHECK(span.end - span.start == Approx(both).epsilon(1e-3));
    }
  CHECK(seen == 4);  // two GPUs, two iterations
}

TEST_CASE("training offload: ZeRO-Infinity reads, updates and writes the states on NVMe in turn, or overlaps them",
          "[training][offload]") {
  const auto sc = load("{impl: zero_infinity}", 1, 0);
  const auto& o = *sc.offload;
  const double n = o.shard_parameters.at(0);
  REQUIRE(sc.nearest_ssd.at(0) == "nvme0");
  CHECK(o.nvme_bytes == Approx(12 * n));
  const double read = idle(sc, "nvme0", "host.dram", 12 * n), write = idle(sc, "host.dram", "nvme0", 12 * n);
  const double expected = idle(sc, "gpu0.hbm", "host.dram", 2 * n) + read + o.cpu_seconds.at(0) + write +
                          idle(sc, "host.dram", "gpu0.hbm", 2 * n);
  const auto rec = sim::run_training(sc);
  CHECK(rec.offload_step == Approx(expected).epsilon(1e-6));
  CHECK(write > read);  // the drive writes at half its read rate
}

TEST_CASE("training offload: pipelined ZeRO-Infinity takes the longest of read, update and write",
          "[training][offload]") {
  const auto sc = load("{impl: zero_infinity, pipeline: true}", 1, 0);
  const auto& o = *sc.offload;
  const double n = o.shard_parameters.at(0);
  // The read and the write share the drive's link (full duplex: each direction its own bandwidth).
  const double read = idle(sc, "nvme0", "host.dram", 12 * n), write = idle(sc, "host.dram", "nvme0", 12 * n);
  const double ends = idle(sc, "gpu0.hbm", "host.dram", 2 * n) + idle(sc, "host.dram", "gpu0.hbm", 2 * n);
  const auto rec = sim::run_training(sc);
  CHECK(rec.offload_step >= ends + std::max({read, write, o.cpu_seconds.at(0)}) * (1 - 1e-9));
  CHECK(rec.offload_step < ends + read + write + o.cpu_seconds.at(0));
}

TEST_CASE("training offload: Deep Optimizer States runs the GPU's share beside the CPU's",
          "[training][offload]") {
  const auto sc = load("{impl: deep_optimizer_states, gpu_fraction: 0.25}", 1, 0);
  const auto& o = *sc.offload;
  const double n = o.shard_parameters.at(0), f = 0.25;
  const double gpu_lane = idle(sc, "host.dram", "gpu0.hbm", 12 * n * f) + sc.stages.at(0).optimizer * f +
                          idle(sc, "gpu0.hbm", "host.dram", 12 * n * f);
  const double cpu_lane = o.cpu_seconds.at(0) * (1 - f);
  const double expected = idle(sc, "gpu0.hbm", "host.dram", 2 * n * (1 - f)) + std::max(gpu_lane, cpu_lane) +
                          idle(sc, "host.dram", "gpu0.hbm", 2 * n * (1 - f));
  const auto rec = sim::run_training(sc);
  // The GPU lane's copies and the CPU share no link, so the phase is the longer lane.
  CHECK(rec.offload_step == Approx(expected).epsilon(1e-6));
}

TEST_CASE("training offload: weights in host memory leave the GPU and every pass fetches the shard",
          "[training][offload]") {
  // ZeRO-3 over 2 GPUs behind one PCIe switch: each pass of each GPU fetches its half of the weights
  // over the shared uplink; the updated weights stay in host memory (no copy up after the step).
  const auto sc = load("{impl: zero_offload, params: host}", 2, 3);
  const auto& o = *sc.offload;
  REQUIRE(o.policy->params() == training::CheckpointPlace::host);
  CHECK(sc.memory[0].weights == 0);
  CHECK(sc.memory[0].offloaded_weights == Approx(o.without.at(0).weights));
  CHECK(sc.memory[0].offloaded_weights > 0);
  // The reduced gradient shard goes to host too: the device keeps one bucket at most.
  CHECK(sc.memory[0].gradients <= o.without.at(0).gradients);
  const double shard = sc.stages.at(0).param_bytes / 2;
  CHECK(sc.memory[0].offloaded_weights == Approx(shard).epsilon(1e-3));  // norms aside, the stored bytes
  const double both = idle(sc, "host.dram", "gpu0.hbm", 2 * shard);  // the shared uplink binds
  sim::TrainingOptions options;
  options.timeline = true;
  const auto rec = sim::run_training(sc, options);
  int fetches = 0;
  for (const auto& span : rec.timeline) {
    CHECK(span.name != "weights_to_device");
    if (span.name == "weights_fetch") {
      ++fetches;
      CHECK(span.end - span.start == Approx(both).epsilon(1e-3));
    }
  }
  CHECK(fetches == 16);  // 2 GPUs x 2 iterations x (2 forwards + 2 backwards)
  // Each pass ends no sooner than its fetch plus one layer: the wait beyond the passes is exposed.
  const auto& stage = sc.stages.at(0);
  const double exposed = std::max(0.0, both + stage.forward.seconds / 4 - stage.forward.seconds) +
                         std::max(0.0, both + stage.backward().seconds / 4 - stage.backward().seconds);
  CHECK(rec.ranks.at(0).times.offload == Approx(4 * exposed).epsilon(1e-3).margin(1e-9));
}
