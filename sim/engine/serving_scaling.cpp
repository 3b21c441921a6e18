// Elastic capacity: instances started (cold start: weights over the platform's links, then the
// engine's start-up) and stopped (drained first) through the cluster facade.
#include <fmt/format.h>

#include <algorithm>

#include "sim/engine/serving_run.hpp"

namespace hetsim::sim::detail {
namespace {

using serving::InstanceState;

/// Weight shards are read in large pieces (loaders stream whole tensors; block devices reach their
/// sequential rate at these sizes).
constexpr double kWeightPiece = 16 << 20;

}  // namespace

std::vector<std::string> ServingRun::weight_origins(const WeightSource& source, std::size_t i, std::string& problem) const {
  const ReplicaPlan& plan = sc_.replicas.at(i);
  if (plan.node < 0 || plan.device_tiers.empty()) {
    problem = "the instance has no node to load its weights over (give cluster.node or the pool's node)";
    return {};
  }
  const std::size_t ranks = plan.device_tiers.size();
  // A tier of node `n`, not a device's memory.
  auto tier_of = [&](const NodeInstance& n, const std::string& wanted, const std::string& what) -> std::string {
    const std::string name = wanted.empty() ? n.spec->first_dram_tier() : wanted;
    const hw::MemoryTier* tier = n.spec->topology.tier(name);
    if (!tier || tier->kind == hw::TierKind::hbm) {
      std::string names;
      for (const auto& t : n.spec->topology.tiers)
        if (t.kind != hw::TierKind::hbm) names += fmt::format("{}{}", names.empty() ? "" : ", ", t.name);
      problem = fmt::format("{} (node '{}') has no {}tier '{}' to load weights from; its tiers outside device memory: {}", what,
                            n.spec->name, tier ? "non-device " : "", name, names.empty() ? "none" : names);
      return {};
    }
    return n.prefix + name;
  };
  std::vector<std::string> origins;
  switch (source.kind) {
    case WeightSource::Kind::tier: {
      const std::string t = tier_of(sc_.nodes[static_cast<std::size_t>(plan.node)], source.name, fmt::format("instance {}'s node", i));
      if (!t.empty()) origins.assign(ranks, t);
      break;
    }
    case WeightSource::Kind::store: {
      const auto it = std::find_if(sc_.kv_stores.begin(), sc_.kv_stores.end(), [&](const KvStoreNode& k) { return k.name == source.name; });
      if (it == sc_.kv_stores.end()) {
        std::string names;
        for (const auto& k : sc_.kv_stores) names += fmt::format("{}{}", names.empty() ? "" : ", ", k.name);
        problem = names.empty() ? "the cluster has no storage nodes; add one under cluster.kv_stores"
                                : fmt::format("no storage node '{}'; cluster.kv_stores has: {}", source.name, names);
        break;
      }
      const std::string t = tier_of(sc_.nodes[static_cast<std::size_t>(it->node)], "", fmt::format("storage node '{}'", it->name));
      if (!t.empty()) origins.assign(ranks, t);
      break;
    }
    case WeightSource::Kind::peer: {
      // An active instance of the same pool (same device and TP degree), on the same node if any.
      std::size_t best = replicas_.size();
      for (std::size_t j = 0; j < replicas_.size(); ++j) {
        if (j == i || state_[j] != InstanceState::active || sc_.replicas[j].pool != plan.pool ||
            sc_.replicas[j].device_tiers.size() != ranks)
          continue;
        if (best == replicas_.size() || (sc_.replicas[j].node == plan.node && sc_.replicas[best].node != plan.node)) best = j;
      }
      if (best == replicas_.size())
        problem = fmt::format("no active instance of pool '{}' to copy the weights from", plan.pool);
      else
        origins = sc_.replicas[best].device_tiers;
      break;
    }
  }
  if (!problem.empty()) return {};
  for (std::size_t r = 0; r < ranks; ++r) {
    try {
      network_->router().idle_transfer_time(origins[r], plan.device_tiers[r], 1.0, kWeightPiece);
    } catch (const InputError& e) {
      problem = fmt::format("{} cannot reach {}: {}", plan.device_tiers[r], origins[r], e.what());
      return {};
    }
  }
  return origins;
}

std::string ServingRun::weight_source_problem(const WeightSource& source, std::size_t i) const {
  // A peer is chosen when the instance starts; here only whether its pool could ever have one.
  if (source.kind == WeightSource::Kind::peer) {
    const auto n = std::count_if(sc_.replicas.begin(), sc_.replicas.end(), [&](const ReplicaPlan& p) { return p.pool == sc_.replicas.at(i).pool; });
    return n > 1 ? std::string() : fmt::format("pool '{}' has one instance: no peer to copy the weights from", sc_.replicas.at(i).pool);
  }
  std::string problem;
  weight_origins(source, i, problem);
  return problem;
}

void ServingRun::set_state(std::size_t i, InstanceState s, ScalingRecord record) {
  const InstanceState was = state_[i];
  if (was == s) return;
  record.time = now();
  record.instance = static_cast<int>(i);
  if (record.event == ScalingEvent::ready || record.event == ScalingEvent::stop) record.seconds = now() - since_[i];
  since_[i] = now();
  state_[i] = s;
  --in_state_[static_cast<std::size_t>(was)];
  ++in_state_[static_cast<std::size_t>(s)];
  recorder_.on_scaling(record);
}

bool ServingRun::start_instance(std::size_t i, const WeightSource& source) {
  if (state_.at(i) == InstanceState::draining) {
    set_state(i, InstanceState::active, {.event = ScalingEvent::revive});
    return true;
  }
  if (state_[i] != InstanceState::stopped) return false;
  std::string problem;
  std::vector<std::string> origins = weight_origins(source, i, problem);
  if (!problem.empty()) {
    if (source.kind == WeightSource::Kind::peer) return false;  // none active now: try again later
    throw InputError(fmt::format("instance {} cannot start: {}", i, problem));
  }
  set_state(i, InstanceState::starting, {.event = ScalingEvent::start});
  ++pending_;
  sg::Actor::create(fmt::format("cold-start-{}", i), frontend_, [this, i, source, origins = std::move(origins)] {
    failure_.guard([&] {
      const double started = now();
      const ReplicaPlan& plan = sc_.replicas[i];
      const double shard = sc_.model.weight_bytes_per_device(static_cast<int>(plan.device_tiers.size()));
      std::vector<TransferNetwork::Transfer> loads;
      for (std::size_t r = 0; r < plan.device_tiers.size(); ++r)
        loads.push_back(network_->start(origins[r], plan.device_tiers[r], shard, kWeightPiece, 0));
      for (auto& l : loads) l.wait();
      // A loader slower than the route (deserialisation, one reader thread) sets the pace instead.
      if (source.loader_bandwidth > 0 && started + shard / source.loader_bandwidth > now())
        sg::this_actor::sleep_until(started + shard / source.loader_bandwidth);
      if (source.startup > 0) sg::this_actor::sleep_for(source.startup);
      check_clock([&] { return fmt::format("instance {}'s cold start", i); });
      reached(now());
      set_state(i, InstanceState::active,
                {.event = ScalingEvent::ready, .weight_bytes = shard * static_cast<double>(plan.device_tiers.size())});
      --pending_;
      wake(i);  // requests that waited for it
      end_if_quiescent();
    });
  });
  return true;
}

bool ServingRun::stop_instance(std::size_t i) {
  if (state_.at(i) != InstanceState::active) return false;
  set_state(i, InstanceState::draining, {.event = ScalingEvent::drain});
  settle(i);
  return true;
}

void ServingRun::settle(std::size_t i) {
  if (state_[i] != InstanceState::draining || crossing_[i] > 0 || replicas_[i]->has_work()) return;
  sc_.replicas[i].kv->forget_cached();
  set_state(i, InstanceState::stopped, {.event = ScalingEvent::stop});
}

}  // namespace hetsim::sim::detail
