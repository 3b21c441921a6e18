// Checkpoints in the training engine against the analytic transfer times of an idle node: a
// synchronous save stalls for shard bytes over the route's bottleneck plus its latency, an
// asynchronous one only for the snapshot into host memory while the persist runs on; two GPUs
// writing through one PCIe switch to one NVMe take twice as long; the reload reads the shard back.
// One run per TEST_CASE: SimGrid allows one engine per process (ctest runs each case alone).
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "sim/core/config.hpp"
#include "sim/engine/training_engine.hpp"
#include "sim/scenario/training_scenario.hpp"

using namespace hetsim;

namespace {

sim::TrainingScenario load(const std::string& policy, int tp) {
  const auto doc = config::Document::load_string(fmt::format(R"(
model: {{preset: llama-3-8b, name: llama-3-8b-4-layers, num_hidden_layers: 4}}   # fits one GPU with Adam
cluster: {{device: h100-sxm5-80gb, node: hgx-h100}}
training: {{seq_len: 2048, global_batch: 2, parallel: {{tp: {}}}, iterations: 2}}
policies: {{checkpoint: {}}}
)",
                                                             tp, policy),
                                                 "checkpoint_test.yaml");
  return sim::load_training_scenario(doc);
}

constexpr double kRequest = 1 << 20;  // the engine's request size for block devices

}  // namespace

TEST_CASE("training checkpoint: a synchronous save stalls for bytes over the bottleneck, the reload reads them back",
          "[training][checkpoint]") {
  const auto sc = load("{impl: sync, target: nvme}", 1);
  const double bytes = sc.checkpoint_bytes.at(0);
  // Weights (bf16) and the optimizer's fp32 master weights and two moments: 14 bytes per parameter.
  CHECK(bytes == Approx(14 * sc.memory[0].parameters).epsilon(1e-9));
  REQUIRE(sc.nearest_ssd.at(0) == "nvme0");  // gpu0 and nvme0 share pcie_sw0
  const auto rec = sim::run_training(sc);
  const auto& topo = sc.node->topology;
  const double write = topo.idle_transfer_time("gpu0.hbm", "nvme0", bytes, kRequest);
  REQUIRE(rec.checkpoint.taken);
  CHECK(rec.checkpoint.stall == Approx(write).epsilon(1e-6));
  CHECK(rec.checkpoint.persist() == 0);
  CHECK(rec.ranks[0].times.checkpoint == Approx(write).epsilon(1e-6));
  CHECK(rec.checkpoint.restore == Approx(topo.idle_transfer_time("nvme0", "gpu0.hbm", bytes, kRequest)).epsilon(1e-6));
  // The stall lengthens the first iteration only.
  CHECK(rec.iterations[0].end - rec.iterations[0].start >
        rec.iterations[1].end - rec.iterations[1].start + 0.99 * write);
}

TEST_CASE("training checkpoint: an asynchronous save stalls only for the snapshot while the persist runs on",
          "[training][checkpoint]") {
  const auto sc = load("{impl: async, target: nvme}", 1);
  const double bytes = sc.checkpoint_bytes.at(0);
  const auto rec = sim::run_training(sc);
  const auto& topo = sc.node->topology;
  const double snapshot = topo.idle_transfer_time("gpu0.hbm", "host.dram", bytes, kRequest);
  const double persist = topo.idle_transfer_time("host.dram", "nvme0", bytes, kRequest);
  CHECK(rec.checkpoint.stall == Approx(snapshot).epsilon(1e-6));
  // One GPU trains without host traffic, so nothing contends with the persist.
  CHECK(rec.checkpoint.persist() == Approx(persist).epsilon(1e-6));
  CHECK(rec.checkpoint.stall < 0.2 * persist);  // the point of two phases
}

TEST_CASE("training checkpoint: two GPUs writing through one PCIe switch to one NVMe take twice one's time",
          "[training][checkpoint]") {
  const auto sc = load("{impl: sync, target: nvme}", 2);
  REQUIRE(sc.nearest_ssd.at(1) == "nvme0");
  const double bytes = sc.checkpoint_bytes.at(0);
  const auto rec = sim::run_training(sc);
  const auto& topo = sc.node->topology;
  const double one = topo.idle_transfer_time("gpu0.hbm", "nvme0", bytes, kRequest);
  const double both = topo.idle_transfer_time("gpu0.hbm", "nvme0", 2 * bytes, kRequest);  // the shared drive binds
  CHECK(rec.checkpoint.stall > 1.9 * one);
  CHECK(rec.checkpoint.stall == Approx(both).epsilon(1e-3));
}

TEST_CASE("training checkpoint: a lazy multi-level snapshot runs under the next passes and holds only the next update",
          "[training][checkpoint]") {
  const auto sc = load("{impl: multi_level, target: nvme}", 1);
  const double bytes = sc.checkpoint_bytes.at(0);
  const auto rec = sim::run_training(sc);
  const auto& topo = sc.node->topology;
  const double snapshot = topo.idle_transfer_time("gpu0.hbm", "host.dram", bytes, kRequest);
  const double flush = topo.idle_transfer_time("host.dram", "nvme0", bytes, kRequest);
  CHECK(rec.checkpoint.stall == Approx(0).margin(1e-12));  // training never stops for it
  // The 4-layer model's passes are shorter than the copy, so the next optimizer step waits for the
  // rest of it: the second iteration lasts the snapshot plus the step.
  const double passes = rec.ranks[0].times.compute / 2;
  REQUIRE(passes < snapshot);
  CHECK(rec.checkpoint.lazy_wait == Approx(snapshot - passes).epsilon(1e-6));
  const double second = rec.iterations[1].end - rec.iterations[1].start;
  CHECK(second == Approx(snapshot + sc.stages.at(0).optimizer).epsilon(1e-6));
  // The flush to NVMe follows the snapshot, in the background.
  CHECK(rec.checkpoint.persist() == Approx(snapshot + flush).epsilon(1e-6));
}

TEST_CASE("training checkpoint: offloaded optimizer states are saved from host memory, not copied off the device",
          "[training][checkpoint]") {
  // ZeRO-Offload keeps the fp32 master weights and moments in host memory: the async snapshot into
  // host memory copies only the bf16 weights off the GPU, and the persist writes everything to NVMe.
  const auto doc = config::Document::load_string(R"(
model: {preset: llama-3-8b, name: llama-3-8b-4-layers, num_hidden_layers: 4}
cluster: {device: h100-sxm5-80gb, node: hgx-h100}
training: {seq_len: 2048, global_batch: 2, iterations: 2}
policies: {checkpoint: {impl: async, target: nvme}, optimizer_offload: {impl: zero_offload}}
)",
                                                 "checkpoint_test.yaml");
  const auto sc = sim::load_training_scenario(doc);
  const auto& shard = sc.checkpoint_shards.at(0);
  CHECK(shard.total() == Approx(sc.checkpoint_bytes.at(0)));
  CHECK(shard.device == Approx(2 * sc.memory[0].parameters).epsilon(1e-9));  // the bf16 weights
  CHECK(shard.host == Approx(12 * sc.memory[0].parameters).epsilon(1e-9));   // master weights and two moments
  CHECK(shard.nvme == 0);
  const auto rec = sim::run_training(sc);
  const auto& topo = sc.node->topology;
  CHECK(rec.checkpoint.stall == Approx(topo.idle_transfer_time("gpu0.hbm", "host.dram", shard.device, kRequest)).epsilon(1e-6));
  // Copying all of it off the device would have stalled seven times as long.
  CHECK(rec.checkpoint.stall < 0.2 * topo.idle_transfer_time("gpu0.hbm", "host.dram", shard.total(), kRequest));
  // The reload reads each part back to where it lives; both reads share the drive, which binds.
  CHECK(rec.checkpoint.restore == Approx(topo.idle_transfer_time("nvme0", "host.dram", shard.total(), kRequest)).epsilon(1e-3));
}
