#include "sim/training/checkpoint.hpp"

namespace hetsim::training {

const char* to_string(CheckpointPlace place) {
  switch (place) {
    case CheckpointPlace::device: return "device";
    case CheckpointPlace::host: return "host";
    case CheckpointPlace::nvme: return "nvme";
    case CheckpointPlace::peer_host: return "peer_host";
    case CheckpointPlace::storage: return "storage";
  }
  return "?";
}

CheckpointPolicy::CheckpointPolicy(const config::Node& cfg) {
  const std::string every = cfg.get<std::string>("every").default_to("auto").value();
  if (every == "auto") return;
  if (!config::detail::convert(every, every_) || every_ < 1)
    cfg.fail_key("every", every, "expected iterations between checkpoints (a whole number >= 1) or auto (Young's interval)");
}

CheckpointPlace CheckpointPolicy::read_target(const config::Node& cfg, const char* fallback) {
  const std::string t = cfg.get<std::string>("target").default_to(fallback).one_of({"host", "nvme", "storage"}).value();
  return t == "host" ? CheckpointPlace::host : t == "nvme" ? CheckpointPlace::nvme : CheckpointPlace::storage;
}

namespace {

/// The checkpoint's weights and optimizer states of `mem` (checkpoint_bytes, apart).
struct SavedParts {
  double weights = 0, states = 0;
};
SavedParts saved_parts(const RankMemory& mem, const ParallelPlan& plan) {
  // RankMemory holds what this device keeps: ZeRO >= 1 shards the optimizer states over dp x cp
  // already, ZeRO-3 the weights too; what is still replicated is divided among the replicas.
  // Routed experts under expert parallelism are replicated over their expert-data-parallel ranks.
  const double dp = plan.weight_replicas(), edp = plan.expert_replicas();
  const double weights = plan.zero >= 3 ? mem.weights + mem.offloaded_weights
                                        : (mem.weights - mem.expert_weights) / dp + mem.expert_weights / edp;
  const double states = mem.optimizer_states() + mem.offloaded_states;
  const double optimizer = plan.zero >= 1 ? states : (states - mem.expert_states) / dp + mem.expert_states / edp;
  return {weights, optimizer};
}

/// Adds `bytes` to the shard's part at `place` (device, host or nvme).
void add_at(CheckpointShard& s, CheckpointPlace place, double bytes) {
  switch (place) {
    case CheckpointPlace::host: s.host += bytes; break;
    case CheckpointPlace::nvme: s.nvme += bytes; break;
    default: s.device += bytes; break;
  }
}

}  // namespace

double checkpoint_bytes(const RankMemory& mem, const ParallelPlan& plan) {
  const SavedParts p = saved_parts(mem, plan);
  return p.weights + p.states;
}

CheckpointShard checkpoint_shard(const RankMemory& mem, const ParallelPlan& plan, CheckpointPlace states_home,
                                 CheckpointPlace weights_home) {
  const SavedParts p = saved_parts(mem, plan);
  // Each part splits as the rank holds it: on the device, or offloaded to its home.
  const double states = mem.optimizer_states() + mem.offloaded_states;
  const double weights = mem.weights + mem.offloaded_weights;
  const double states_off = states > 0 ? mem.offloaded_states / states : 0;
  const double weights_off = weights > 0 ? mem.offloaded_weights / weights : 0;
  CheckpointShard s;
  add_at(s, CheckpointPlace::device, p.states * (1 - states_off) + p.weights * (1 - weights_off));
  add_at(s, states_home, p.states * states_off);
  add_at(s, weights_home, p.weights * weights_off);
  return s;
}

}  // namespace hetsim::training
