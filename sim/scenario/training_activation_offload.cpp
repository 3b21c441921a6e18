#include "sim/scenario/training_activation_offload.hpp"

#include <algorithm>
#include <limits>
#include <map>

#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"
#include "sim/scenario/training_offload.hpp"
#include "sim/scenario/training_scenario.hpp"
#include "sim/training/pipeline_timing.hpp"

namespace hetsim::sim {
namespace {

constexpr double kGiB = 1 << 30;

/// Bytes/s each device gets between its memory and the node's host DRAM when `devices` of the
/// node's slots copy at once: per device, its route's bottleneck share (a link carries the copies
/// of every device routed over it; the DRAM port all of them), the slowest device's.
double host_rate_per_device(const hw::NodeSpec& node, int devices) {
  const hw::NodeTopology& topo = node.topology;
  const std::string dram = node.first_dram_tier();
  const int n = std::min(devices, static_cast<int>(node.device_slots.size()));
  std::vector<std::vector<std::pair<std::size_t, bool>>> routes;
  std::map<std::size_t, int> users;
  for (int i = 0; i < n; ++i) {
    routes.push_back(topo.route(node.device_slots[static_cast<std::size_t>(i)], dram));
    for (const auto& hop : routes.back()) ++users[hop.first];
  }
  double rate = std::numeric_limits<double>::infinity();
  for (const auto& route : routes)
    for (const auto& [link, forward] : route) rate = std::min(rate, topo.links[link].bandwidth / users[link]);
  const hw::MemoryTier* tier = topo.tier(dram);
  const double port = std::min(tier->read_bandwidth, tier->write_bandwidth);
  if (port > 0) rate = std::min(rate, port / n);
  return rate;
}

/// Host memory the swap may take per node: host_limit or the DRAM tier, less an optimizer
/// offload's DRAM-resident state.
double host_room(const TrainingScenario& sc, const training::ActivationOffloadPolicy& policy, const config::Node& cfg) {
  const hw::MemoryTier& dram = *sc.node->topology.tier(sc.node->first_dram_tier());
  const double optimizer = sc.offload ? sc.offload->host_dram : 0;
  return host_dram_limit(cfg, "host_limit", policy.host_limit(), dram) - optimizer;
}

}  // namespace

std::unique_ptr<training::ActivationSwapSetup> read_activation_offload(TrainingScenario& sc, const config::Node& cfg,
                                                                       const config::Node& training) {
  if (cfg.has("impl") && cfg.child("impl").is_scalar() && cfg.child("impl").scalar() == "none") {
    for (const char* k : {"fraction", "host_limit"}) (void)cfg.has(k);
    return nullptr;
  }
  const auto policy = Registry<training::ActivationOffloadPolicy>::instance().make(cfg, "");
  auto setup = std::make_unique<training::ActivationSwapSetup>();
  setup->name = cfg.get<std::string>("impl").value();
  if (sc.job.recompute != training::Recompute::none)
    training.fail_key("recompute", training.child("recompute").shown(),
                      fmt::format("none with policies.activation_offload ({} decides what the backward recomputes)",
                                  setup->name));
  if (sc.node->first_dram_tier().empty())
    cfg.fail(fmt::format("{} swaps activations to host memory, and node {} has no DRAM tier", setup->name, sc.node->name));

  const ParallelPlan& p = sc.job.plan;
  training::LayerShape layer = training::LayerShape::of(sc.model);
  const training::LayerActivationParts parts =
      training::layer_activation_parts(layer, p, bytes_per_element(sc.model.precision.activations));
  const double tokens = static_cast<double>(sc.job.seq_len * sc.job.micro_batch) / p.cp;  // per device per micro-batch
  setup->rate = host_rate_per_device(*sc.node, sc.gpus());
  setup->host_capacity = host_room(sc, *policy, cfg);

  if (policy->fraction()) {
    setup->fraction = *policy->fraction();
  } else {
    // The shortest layer forward any stage runs, and the most layers of activations a device holds.
    double layer_forward = std::numeric_limits<double>::infinity();
    for (const auto& stage : sc.stages)
      if (stage.layers > 0) layer_forward = std::min(layer_forward, stage.recompute.seconds / stage.layers);
    const training::PipelineShape shape = sc.job.pipeline();
    const auto held = training::replay(shape, sc.schedule->order(shape), {}).peak_activations;
    double held_layers = 0;
    for (int s = 0; s < p.pp; ++s) {
      double layers = 0;
      for (int c = 0; c < shape.chunks(); ++c)
        layers += static_cast<double>(sc.job.stage_layers[static_cast<std::size_t>(training::model_stage(shape, s, c))]);
      held_layers = std::max(held_layers, layers / shape.chunks() * held[static_cast<std::size_t>(s)]);
    }
    try {
      setup->fraction = training::auto_fraction(*policy, parts, tokens, layer_forward, setup->rate, held_layers,
                                                std::min(sc.gpus(), sc.slots_per_node()), setup->host_capacity);
    } catch (const InputError& e) {
      cfg.fail(fmt::format("{}: {}", setup->name, e.what()));
    }
    setup->automatic = true;
  }
  setup->shape = policy->shape(parts, setup->fraction);
  for (const auto& stage : sc.stages) setup->bytes.push_back(tokens * setup->shape.host_bytes_per_token * stage.layers);
  // Every device type's backward recomputes what the swap drops, at its own prices.
  const auto recompute_in = [&](std::vector<training::StageCost>& stages) {
    for (auto& stage : stages) stage.backward_input += training::swap_recompute(stage.recompute, setup->shape);
  };
  recompute_in(sc.stages);
  for (auto& other : sc.other_devices) recompute_in(other.stages);
  return setup;
}

std::optional<training::MemoryInputs::Swap> swap_memory(const TrainingScenario& sc) {
  if (!sc.swap) return std::nullopt;
  return training::MemoryInputs::Swap{sc.swap->shape.host_bytes_per_token, 2};
}

void check_swap_host_memory(TrainingScenario& sc, const config::Node& cfg) {
  training::ActivationSwapSetup& o = *sc.swap;
  const ParallelPlan& p = sc.job.plan;
  const int per_stage = p.tp * p.cp * p.dp;
  std::vector<double> node_bytes(static_cast<std::size_t>(sc.nodes), 0);
  for (int r = 0; r < sc.gpus(); ++r)
    node_bytes[static_cast<std::size_t>(r / sc.slots_per_node())] +=
        sc.memory[static_cast<std::size_t>(r / per_stage)].swapped_activations;
  o.host_bytes = *std::max_element(node_bytes.begin(), node_bytes.end());
  if (o.host_bytes > o.host_capacity * (1 + 1e-12))
    cfg.fail(fmt::format("{} at fraction {:.3g} swaps {:.1f} GiB of activations per node to host memory, more than the "
                         "{:.1f} GiB it may take{}: a smaller fraction (or fraction: auto) would fit",
                         o.name, o.fraction, o.host_bytes / kGiB, o.host_capacity / kGiB,
                         sc.offload ? " beside the optimizer offload's states" : ""));
}

}  // namespace hetsim::sim
