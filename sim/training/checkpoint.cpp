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

double checkpoint_bytes(const RankMemory& mem, const ParallelPlan& plan) {
  // RankMemory holds what this device keeps: ZeRO >= 1 shards the optimizer states over dp x cp
  // already, ZeRO-3 the weights too; what is still replicated is divided among the replicas.
  // Routed experts under expert parallelism are replicated over their expert-data-parallel ranks.
  const double dp = plan.weight_replicas(), edp = plan.expert_replicas();
  const double weights = plan.zero >= 3 ? mem.weights + mem.offloaded_weights
                                        : (mem.weights - mem.expert_weights) / dp + mem.expert_weights / edp;
  const double states = mem.optimizer_states() + mem.offloaded_states;
  const double optimizer = plan.zero >= 1 ? states : (states - mem.expert_states) / dp + mem.expert_states / edp;
  return weights + optimizer;
}

}  // namespace hetsim::training
