#include "sim/scenario/training_scenario.hpp"
#include "sim/scenario/training_activation_offload.hpp"
#include "sim/scenario/training_offload.hpp"
#include "sim/scenario/training_sequence_sharding.hpp"
#include "sim/training/node_placement.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "sim/core/catalog.hpp"
#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"
#include "sim/scenario/cluster_nodes.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/training/pipeline_timing.hpp"

namespace hetsim::sim {
namespace {

using Recompute = models::TrainingShape::Recompute;

/// training.parallel: degrees and sequence parallelism.
ParallelPlan parse_plan(const config::Node& cfg, const models::ModelSpec& m) {
  ParallelPlan p;
  p.tp = cfg.get<int>("tp").default_to(1).in_range(1, 1024);
  m.check_tensor_parallel(p.tp, cfg, "tp");
  p.pp = cfg.get<int>("pp").default_to(1).in_range(1, 1024);
  p.cp = cfg.get<int>("cp").default_to(1).in_range(1, 1024);
  p.dp = cfg.get<int>("dp").default_to(1).in_range(1, 1 << 20);
  p.sp = cfg.get<bool>("sp").default_to(false);
  if (p.sp && p.tp == 1) cfg.fail_key("sp", "true", "sequence parallelism splits the tensor-parallel group; it needs tp > 1");
  // Expert parallelism (Megatron-Core's expert_model_parallel_size): the routed experts spread
  // whole (expert-TP 1) over ep consecutive ranks of a pipeline stage, E / ep each, tokens
  // dispatched to them by all-to-all. The stage's tp x cp x dp ranks fold into such groups
  // (Megatron-Core's MoE parallel folding), so attention may keep its tensor parallelism.
  p.ep = cfg.get<int>("ep").default_to(1).in_range(1, 1 << 20);
  if (p.ep > 1) {
    if (!m.moe.enabled()) cfg.fail_key("ep", std::to_string(p.ep), fmt::format("{} has no routed experts to spread", m.name));
    const int stage_ranks = p.tp * p.cp * p.dp;
    if (stage_ranks % p.ep != 0)
      cfg.fail_key("ep", std::to_string(p.ep),
                   fmt::format("expected a divisor of tp x cp x dp ({}): expert-parallel groups are carved from a "
                               "pipeline stage's ranks", stage_ranks));
    if (m.moe.experts % p.ep != 0)
      cfg.fail_key("ep", std::to_string(p.ep), fmt::format("expected a divisor of {}'s {} experts", m.name, m.moe.experts));
    if (p.tp > 1 && !p.sp)
      cfg.fail_key("ep", std::to_string(p.ep),
                   fmt::format("expert parallelism with tp {} folds the experts over the tensor-parallel ranks, "
                               "which needs sp: true (each rank routes its own share of the tokens; Megatron-Core "
                               "requires sequence parallelism with tp and ep)", p.tp));
  }
  // Expert tensor parallelism (Megatron-Core's expert_tensor_parallel_size): each routed expert
  // split in width over etp ranks of the stage; the expert groups are then etp x ep ranks.
  if (cfg.has("etp")) {
    p.etp = cfg.get<int>("etp").in_range(1, 1024);
    if (p.ep <= 1 && p.etp != p.tp)
      cfg.fail_key("etp", std::to_string(p.etp),
                   fmt::format("without expert parallelism (ep > 1) the experts split over tp like the dense "
                               "layers: expected etp equal to tp ({}), or ep > 1", p.tp));
    const int stage_ranks = p.tp * p.cp * p.dp;
    if (p.ep > 1 && stage_ranks % (p.ep * p.etp) != 0)
      cfg.fail_key("etp", std::to_string(p.etp),
                   fmt::format("expected ep x etp ({} x {}) to divide tp x cp x dp ({}): expert groups are carved "
                               "from a pipeline stage's ranks", p.ep, p.etp, stage_ranks));
    if (m.moe.intermediate % p.etp != 0)
      cfg.fail_key("etp", std::to_string(p.etp),
                   fmt::format("expected a divisor of {}'s expert width ({})", m.name, m.moe.intermediate));
    if (p.ep <= 1) p.etp = 0;  // etp = tp without expert parallelism: the default
  }
  return p;
}

/// training.layers_per_stage, or models::default_stage_layers.
std::vector<std::int64_t> parse_partition(const config::Node& training, const models::ModelSpec& m, int stages) {
  std::vector<std::int64_t> layers;
  if (auto given = training.maybe("layers_per_stage")) {
    for (const auto& item : given->items()) {
      std::int64_t n = 0;
      if (!item.is_scalar() || !config::detail::convert(item.scalar(), n) || n < 1)
        item.fail(fmt::format("layers_per_stage entry {}: expected a whole number of layers >= 1", item.shown()));
      layers.push_back(n);
    }
    const auto total = std::accumulate(layers.begin(), layers.end(), std::int64_t{0});
    if (static_cast<int>(layers.size()) != stages || total != m.num_hidden_layers)
      training.fail_key("layers_per_stage", fmt::format("{} entries summing to {}", layers.size(), total),
                        fmt::format("expected one entry per model stage (pp x virtual_stages = {}) summing to the "
                                    "model's {} layers", stages, m.num_hidden_layers));
    return layers;
  }
  if (m.num_hidden_layers < stages)
    training.fail(fmt::format("{} has {} layers, fewer than the {} model stages (pp x virtual_stages)", m.name,
                              m.num_hidden_layers, stages));
  return models::default_stage_layers(m.num_hidden_layers, stages);
}

/// A device that trains runs GEMMs, attention and elementwise ops at the model's precisions.
void check_can_train(const TrainingScenario& sc, const hw::Device& device, const config::Node& where,
                     const config::Node& model) {
  for (OpClass c : {OpClass::gemm, OpClass::attention_prefill, OpClass::elementwise})
    if (!device.can_run(c))
      where.fail_key("device", device.name,
                     fmt::format("a {} device cannot run {} ops, so it cannot train", device.kind_name, to_string(c)));
  check_precision_peaks(sc.model, device, model);
}

/// Usable memory of a device: the driver-reported total, else the datasheet's.
double usable_memory(const hw::Device& d) { return d.usable_memory > 0 ? d.usable_memory : d.memory().capacity; }

/// The device type with the least memory among pipeline stage `s`'s devices (0 without other types).
int smallest_device_type(const TrainingScenario& sc, int s) {
  int type = 0;
  if (sc.other_devices.empty()) return type;
  const int per_stage = sc.gpus() / sc.job.plan.pp;
  for (int r = s * per_stage; r < (s + 1) * per_stage; ++r) {
    const int t = sc.device_type(r);
    if (sc.memory_of_type(t) < sc.memory_of_type(type)) type = t;
  }
  return type;
}

/// One device's memory on each pipeline rank at its peak: its chunks' layers, the embedding on the
/// first rank and the LM head on the last, and as many micro-batch chunks of activations as the
/// schedule holds there at most (its order replayed with uniform passes).
std::vector<training::RankMemory> rank_memories(const TrainingScenario& sc, bool offload_optimizer) {
  const ParallelPlan& p = sc.job.plan;
  const training::PipelineShape shape = sc.job.pipeline();
  const training::PipelineTiming timing = training::replay(shape, sc.schedule->order(shape), {});
  const auto& held = timing.peak_activations;
  std::vector<training::RankMemory> out;
  for (int s = 0; s < p.pp; ++s) {
    training::MemoryInputs in(sc.model);
    in.plan = p;
    in.plan.virtual_stages = shape.chunks();  // the chunks this rank holds (two model copies: two)
    in.micro_batch = sc.job.micro_batch;
    in.seq_len = sc.job.seq_len;
    in.recompute = sc.job.recompute;
    in.recompute_modules = sc.job.recompute_modules;
    in.layer.fp8_cache_bytes = sc.job.fp8_cache_bytes;
    in.optimizer_moment_bytes = 2 * bytes_per_element(sc.job.moment_dtype);
    // Attention is priced as a fused (FlashAttention) kernel, which keeps no s x s scores.
    in.layer.fused_attention = true;
    in.layers = 0;
    in.dense_layers = 0;
    double recomputed = 0;
    for (int c = 0; c < shape.chunks(); ++c) {
      const int stage = training::model_stage(shape, s, c);
      const auto layers = sc.job.stage_layers[static_cast<std::size_t>(stage)];
      in.layers += static_cast<double>(layers);
      *in.dense_layers += models::stage_dense_layers(sc.model, p, sc.job.shape(stage));
      recomputed += static_cast<double>(sc.job.recompute_layers < 0 ? layers : std::min(layers, sc.job.recompute_layers));
    }
    if (sc.job.recompute == Recompute::full) in.recomputed_layers = recomputed;
    // The embedding's and the head's chunks hold their own counts of micro-batches, not an even
    // share of the rank's: interleaved 1F1B's first rank runs p forwards of chunk 0 before any of
    // chunk 1 and its backwards last, while the last stage's chunk runs each backward soon after its
    // forward (and a V's turn right after). Each is that chunk's peak in the schedule's replay.
    // (Two model copies put an embedding and a head on both end ranks.)
    const auto& chunks = timing.peak_chunk_activations[static_cast<std::size_t>(s)];
    in.holds_embedding = in.holds_lm_head = false;
    for (int c = 0; c < shape.chunks(); ++c) {
      const int stage = training::model_stage(shape, s, c);
      if (stage == 0) {
        in.holds_embedding = true;
        in.embedding_in_flight = chunks[static_cast<std::size_t>(c)];
      }
      if (stage == shape.model_stages() - 1) {
        in.holds_lm_head = true;
        in.lm_head_in_flight = chunks[static_cast<std::size_t>(c)];
      }
    }
    in.in_flight = held[static_cast<std::size_t>(s)];
    in.grad_dtype = sc.job.grad_dtype;
    in.offload_optimizer = offload_optimizer;
    in.offload_weights = offload_optimizer && sc.offload && sc.offload->policy->params() != training::CheckpointPlace::device;
    in.swap = swap_memory(sc);
    out.push_back(training::rank_memory(in));
  }
  return out;
}

/// Per device slot of `node`, the SSD tier its route reaches with the least hop weight (fewest hops,
/// then the fastest for a reference transfer); empty where none is reachable.
std::vector<std::string> nearest_ssds(const hw::NodeSpec& node) {
  const hw::NodeTopology& topo = node.topology;
  std::vector<std::string> out;
  for (const auto& slot : node.device_slots) {
    std::string best;
    double best_weight = std::numeric_limits<double>::infinity();
    for (const auto& tier : topo.tiers) {
      if (tier.kind != hw::TierKind::ssd) continue;
      double weight = 0;
      try {
        for (const auto& [link, forward] : topo.route(slot, tier.name))
          weight += hw::hop_weight(topo.links[link].latency, topo.links[link].bandwidth);
      } catch (const InputError&) {
        continue;  // not reachable from this slot
      }
      if (weight < best_weight) {
        best_weight = weight;
        best = tier.name;
      }
    }
    out.push_back(best);
  }
  return out;
}

/// cluster.storage: checkpoint storage servers on the fabric, and the SSD tier written on each.
void load_storage(TrainingScenario& sc, const config::Node& cfg) {
  sc.storage_node = load_node(cfg, false);
  sc.storage_count = cfg.get<int>("count").default_to(1).in_range(1, 100000);
  for (const auto& t : sc.storage_node->topology.tiers)
    if (t.is_block_device()) {
      sc.storage_tier = t.name;
      break;
    }
  if (sc.storage_tier.empty())
    cfg.fail_key("node", sc.storage_node->name, fmt::format("a storage server needs an SSD tier; {} has none", sc.storage_node->source));
  if (sc.storage_node->nics.empty())
    cfg.fail_key("node", sc.storage_node->name, fmt::format("a storage server joins the fabric by its NICs; {} has none",
                                                            sc.storage_node->source));
  if (!sc.fabric) cfg.fail("storage servers join the cluster's fabric: give cluster.fabric too");
}

/// policies.checkpoint: the policy, each pipeline rank's shard, and the places it needs checked.
void load_checkpoint(TrainingScenario& sc, const config::Node& cfg) {
  sc.checkpoint = Registry<training::CheckpointPolicy>::instance().make(cfg, "");
  sc.checkpoint_name = cfg.get<std::string>("impl").value();
  if (sc.job.iterations < 2)
    cfg.fail(fmt::format("a checkpoint is saved at the end of the first iteration and priced against the ones after "
                         "it; expected training.iterations >= 2, not {}", sc.job.iterations));
  using training::CheckpointPlace;
  const CheckpointPlace states_home = sc.offload ? sc.offload->policy->states_place() : CheckpointPlace::device;
  const CheckpointPlace weights_home = sc.offload ? sc.offload->policy->params() : CheckpointPlace::device;
  for (const auto& m : sc.memory) {
    sc.checkpoint_bytes.push_back(training::checkpoint_bytes(m, sc.job.plan));
    sc.checkpoint_shards.push_back(training::checkpoint_shard(m, sc.job.plan, states_home, weights_home));
  }
  for (const auto& copy : sc.checkpoint->copies())
    for (const auto place : {copy.from, copy.to}) {
      if (place == training::CheckpointPlace::host && sc.node->first_dram_tier().empty())
        cfg.fail(fmt::format("{} copies to host memory, but node '{}' ({}) has no DRAM tier", sc.checkpoint_name,
                             sc.node->name, sc.node->source));
      if (place == training::CheckpointPlace::nvme)
        for (std::size_t i = 0; i < sc.nearest_ssd.size(); ++i)
          if (sc.nearest_ssd[i].empty())
            cfg.fail_key("target", "nvme", fmt::format("node '{}' ({}) has no SSD tier reachable from {}", sc.node->name,
                                                       sc.node->source, sc.node->device_slots[i]));
      if (place == training::CheckpointPlace::storage && !sc.storage_node)
        cfg.fail_key("target", "storage", "no storage servers: give cluster.storage: {node: nvme-storage-server, count: N}");
      if (place == training::CheckpointPlace::peer_host && sc.nodes < 2)
        cfg.fail(fmt::format("{} keeps a replica in a peer node's memory; the job runs on {} node", sc.checkpoint_name,
                             sc.nodes));
    }
}

/// policies.placement: which physical node each logical node (block of ranks) runs on.
void load_placement(TrainingScenario& sc, const config::Node& cfg) {
  const auto placement = Registry<training::NodePlacement>::instance().make(cfg, "in_order");
  sc.placement_name = cfg.get<std::string>("impl").default_to("in_order").value();
  ClusterNodes& c = sc.cluster_nodes;
  std::vector<training::PlacementNode> nodes;
  for (int n = 0; n < c.nodes; ++n) {
    const hw::NodeSpec& spec = c.spec(n);
    nodes.push_back({c.group.empty() ? 0 : c.group[static_cast<std::size_t>(n)],
                     spec.nics.empty() ? 0.0 : spec.nics.front().bandwidth});
  }
  c.order = placement->order(nodes);
  std::vector<char> seen(nodes.size(), 0);
  for (int p : c.order)
    if (p < 0 || p >= c.nodes || seen[static_cast<std::size_t>(p)]++)
      throw InvariantError(fmt::format("placement {} did not give a permutation of the {} nodes", sc.placement_name, c.nodes));
  if (c.order.size() != nodes.size())
    throw InvariantError(fmt::format("placement {} placed {} of {} nodes", sc.placement_name, c.order.size(), c.nodes));
}

/// policies.failures and training.recovery: the failure projection's process and recovery costs.
void load_failures(TrainingScenario& sc, const config::Node& cfg, const config::Node& training) {
  sc.failures = Registry<training::FailureProcess>::instance().make(cfg, "");
  sc.failures_name = cfg.get<std::string>("impl").value();
  if (!sc.checkpoint)
    cfg.fail("failures roll the job back to its last checkpoint: give policies.checkpoint too");
  if (!(sc.job.train_tokens > 0))
    cfg.fail("the failure projection covers a whole run: give training.train_tokens (e.g. 15e12)");
  if (!(sc.failures->mtbf(sc.gpus()) > 0))
    cfg.fail("the failures give a mean time between failures of 0 (all at time 0?)");
  const config::Node r = training.section("recovery");
  using units::Dim;
  // PyTorch's default NCCL collective timeout (torch.distributed default_pg_nccl_timeout, 10 min):
  // how long a hang goes unnoticed when nothing faster (XID errors, health checks) reports it.
  sc.recovery.detection = r.quantity("detection", Dim::time).default_to("10 min").non_negative().value();
  // Relaunch (scheduling, container and process start, NCCL communicator setup): an assumption, not a
  // measured figure; set it from your cluster's logs.
  sc.recovery.restart = r.quantity("restart", Dim::time).default_to("10 min").non_negative().value();
  const std::string spares = r.get<std::string>("spare_nodes").default_to("unlimited").value();
  if (spares != "unlimited" && (!config::detail::convert(spares, sc.recovery.spare_nodes) || sc.recovery.spare_nodes < 0))
    r.fail_key("spare_nodes", spares, "expected a count of nodes >= 0 or unlimited");
  // A node's return from repair: an assumption (a day), used only with a finite spare pool.
  sc.recovery.repair = r.quantity("repair", Dim::time).default_to("24 h").non_negative().value();
  sc.resilience_trials = r.get<int>("trials").default_to(20).in_range(1, 10000);
}

}  // namespace

std::pair<std::string, std::string> TrainingScenario::checkpoint_route(int r, training::CheckpointPlace from,
                                                                      training::CheckpointPlace to) const {
  using training::CheckpointPlace;
  const int slots = slots_per_node();
  const int logical = r / slots, slot = r % slots;
  const int n = cluster_nodes.physical(logical);
  const bool crosses = training::off_node(from) || training::off_node(to);
  const auto tier = [&](CheckpointPlace p) -> std::string {
    switch (p) {
      case CheckpointPlace::device: return device_tier(r);
      case CheckpointPlace::host: return crosses ? device_tier(r) : fmt::format("node{}/{}", n, node->first_dram_tier());
      case CheckpointPlace::nvme: return fmt::format("node{}/{}", n, nearest_ssd.at(static_cast<std::size_t>(slot)));
      case CheckpointPlace::peer_host:
        return fmt::format("node{}/{}", cluster_nodes.physical((logical + 1) % nodes),
                           node->device_slots[static_cast<std::size_t>(slot)]);
      case CheckpointPlace::storage: return fmt::format("storage{}/{}", r % storage_count, storage_tier);
    }
    return {};
  };
  return {tier(from), tier(to)};
}

std::string TrainingScenario::device_tier(int r) const { return cluster_nodes.device_tier(r); }

int TrainingScenario::device_type(int r) const {
  const hw::Device* d = cluster_nodes.device_of(r);
  if (d == nullptr) return 0;
  for (std::size_t i = 0; i < other_devices.size(); ++i)
    if (other_devices[i].device.get() == d) return static_cast<int>(i) + 1;
  return 0;
}

std::string TrainingScenario::describe() const {
  std::string groups;
  const auto& c = cluster_nodes;
  for (std::size_t n = 0; n < c.group.size(); ++n)
    if (n == 0 || c.group[n] != c.group[n - 1]) {
      const auto count = std::count(c.group.begin(), c.group.end(), c.group[n]);
      const auto& spec = c.spec(static_cast<int>(n));
      const auto& nics = spec.nics;
      const hw::Device* d = c.device_on(static_cast<int>(n));
      groups += fmt::format("{}{}{} with {:.0f} Gb/s {}", groups.empty() ? ": " : ", ", count,
                            other_devices.empty() ? "" : fmt::format(" {} of {}", spec.name, d ? d->name : device->name),
                            nics.empty() ? 0.0 : nics.front().bandwidth * 8 / 1e9, nics.empty() ? "" : nics.front().kind);
    }
  std::string plan = job.plan.describe();
  if (sharding)
    plan += fmt::format(" (DP{} x CP{} regrouped per batch, {})", job.plan.dp / sharding->cp, sharding->cp, sharding->name);
  if (!other_devices.empty()) return fmt::format("{} GPUs ({} nodes{}) {}", gpus(), nodes, groups, plan);
  return fmt::format("{} x {} ({} node{} {}{}) {}", gpus(), device->name, nodes, nodes == 1 ? "" : "s", node->name, groups,
                     plan);
}

bool is_training(const config::Document& doc) { return doc.root().has("training"); }

hw::Cluster platform_of(const TrainingScenario& sc) {
  hw::Cluster c = cluster_platform(sc.cluster_nodes, sc.fabric);
  if (sc.storage_node) {
    const auto topology = std::shared_ptr<const hw::NodeTopology>(sc.storage_node, &sc.storage_node->topology);
    const auto nics = std::shared_ptr<const std::vector<hw::Nic>>(sc.storage_node, &sc.storage_node->nics);
    for (int i = 0; i < sc.storage_count; ++i) c.nodes.push_back({fmt::format("storage{}/", i), topology, nics});
  }
  return c;
}

TrainingScenario load_training_scenario(const config::Document& doc) {
  const config::Node root = doc.root();
  TrainingScenario sc;
  const ScenarioHead head = load_head(doc);
  sc.file = head.file;
  sc.name = head.name;
  sc.seed = head.seed;
  const LoadedModel& model = head.model;
  sc.model = model.spec;
  // The cluster: one device type on nodes of one type (hw/nodes preset or inline; default: one
  // node of the device with as many slots as the job needs, without NICs), joined by a fabric.
  const config::Node cluster = root.child("cluster");
  sc.device = load_device(cluster);
  check_can_train(sc, *sc.device, cluster, model.node);
  if (cluster.has("fabric")) sc.fabric = hw::parse_fabric(cluster.child("fabric"));

  const config::Node training = root.child("training");
  training::TrainingJob& job = sc.job;
  job.plan = parse_plan(training.section("parallel"), sc.model);
  ParallelPlan& plan = job.plan;
  plan.zero = training.get<int>("zero").default_to(0).in_range(0, 3);
  if (plan.zero >= 3 && plan.ep > 1)
    training.fail_key("zero", std::to_string(plan.zero),
                      "0, 1 or 2 with expert parallelism (ZeRO-3's per-layer gathers of experts over their expert-data-parallel "
                      "ranks are not built)");
  job.seq_len = training.get<std::int64_t>("seq_len").in_range(1, sc.model.max_position_embeddings);
  if (job.seq_len % plan.cp != 0)
    training.fail_key("seq_len", std::to_string(job.seq_len),
                      fmt::format("expected a multiple of the context-parallel degree ({})", plan.cp));
  job.micro_batch = training.get<std::int64_t>("micro_batch").default_to(1).in_range(1, 1 << 20);
  job.global_batch = training.get<std::int64_t>("global_batch").in_range(1, 1LL << 32);
  if (job.global_batch % (job.micro_batch * plan.dp) != 0)
    training.fail_key("global_batch", std::to_string(job.global_batch),
                      fmt::format("expected a multiple of micro_batch x dp = {} x {} = {} (each data-parallel rank "
                                  "runs whole micro-batches)",
                                  job.micro_batch, plan.dp, job.micro_batch * plan.dp));
  job.iterations = training.get<int>("iterations").default_to(3).in_range(1, 100000);
  // A policy that regroups the data x context parallel ranks per batch runs the job as their pool.
  const std::optional<config::Node> sharding_cfg = root.section("policies").maybe("sequence_sharding");
  if (sharding_cfg) sc.sharding = read_sequence_sharding(sc, *sharding_cfg);
  if (training.has("train_tokens")) job.train_tokens = training.get<double>("train_tokens").value();
  if (job.train_tokens < 0 || !std::isfinite(job.train_tokens))
    training.fail_key("train_tokens", training.child("train_tokens").shown(), "expected a token count >= 0, e.g. 15e12");
  const std::string recompute =
      training.get<std::string>("recompute").default_to("none").one_of({"none", "selective", "full"}).value();
  job.recompute = recompute == "full" ? Recompute::full : recompute == "selective" ? Recompute::selective : Recompute::none;
  if (training.has("recompute_modules")) {
    // Megatron-Core's --recompute-modules: which modules selective recompute recomputes.
    const config::Node list = training.child("recompute_modules");
    if (!list.is_sequence() || list.items().empty())
      training.fail_key("recompute_modules", list.shown(),
                        "a non-empty list of modules, e.g. [core_attn, mla_up_proj] (" +
                            models::recompute_module_names(~0u) + ")");
    job.recompute_modules = 0;
    for (const auto& item : list.items()) {
      const std::string name = item.is_scalar() ? item.scalar() : item.shown();
      const unsigned bit = models::recompute_module(name);
      if (bit == 0)
        item.fail("unknown recompute module '" + name + "': expected one of " + models::recompute_module_names(~0u));
      job.recompute_modules |= bit;
      using M = models::RecomputeModule;
      if (bit == M::mla_up_proj && !sc.model.mla.enabled())
        item.fail("mla_up_proj recomputes multi-head latent attention's up-projections; " + sc.model.name + " has no MLA");
      if ((bit & (M::moe_act | M::moe | M::shared_experts)) && !sc.model.moe.enabled())
        item.fail(name + " recomputes part of an MoE layer; " + sc.model.name + " has none");
    }
    if (job.recompute != Recompute::selective && job.recompute_modules != models::RecomputeModule::core_attn)
      training.fail_key("recompute_modules", list.shown(), "recompute_modules (what selective recompute recomputes) goes with recompute: selective");
  }
  if (training.has("recompute_layers")) {
    if (job.recompute != Recompute::full)
      training.fail_key("recompute_layers", training.child("recompute_layers").shown(),
                        "recompute_layers (layers per model stage recomputed) goes with recompute: full");
    job.recompute_layers = training.get<std::int64_t>("recompute_layers").in_range(0, 1 << 20);
  }
  const std::string grad = training.get<std::string>("grad_dtype").default_to("fp32").one_of({"fp32", "bf16"}).value();
  job.grad_dtype = grad == "bf16" ? DType::bf16 : DType::fp32;
  // DeepSeek-V3's FP8 activation cache (Technical Report §3.3.3): the Linear operators' inputs, as
  // the FP8 copies its FP8 GEMMs read, and the MoE experts' SwiGLU inputs.
  if (training.get<bool>("fp8_activation_cache").default_to(false)) {
    if (sc.model.precision.gemm != DType::fp8)
      training.fail_key("fp8_activation_cache", "true",
                        "false unless the GEMMs run in FP8 (model.precision.gemm: fp8): the cache keeps the FP8 copies "
                        "they read");
    job.fp8_cache_bytes = 1;
  }
  // How MoE tokens travel to their experts: Megatron-Core's alltoall dispatcher (every (token,
  // expert) row its own message) or DeepEP (Megatron-Core's flex dispatcher, DeepSeek's kernels).
  job.deepep = training.get<std::string>("moe_dispatcher").default_to("alltoall").one_of({"alltoall", "deepep"}).value() ==
               "deepep";
  if (job.deepep && plan.ep <= 1)
    training.fail_key("moe_dispatcher", "deepep", "alltoall without expert parallelism (parallel.ep > 1): nothing is dispatched");
  if (job.deepep && plan.expert_tp() > 1 && plan.ep > 1)
    training.fail_key("moe_dispatcher", "deepep",
                      fmt::format("alltoall with parallel.etp {}: DeepEP dispatches to whole experts (etp 1)", plan.expert_tp()));
  // Adam's moments: fp32 (Megatron's default) or bf16 (DeepSeek-V3 §3.3.3; Megatron-Core's
  // --exp-avg-dtype / --exp-avg-sq-dtype bf16).
  job.moment_dtype =
      training.get<std::string>("optimizer_moments").default_to("fp32").one_of({"fp32", "bf16"}).value() == "bf16"
          ? DType::bf16
          : DType::fp32;
  const config::Node overlap = training.section("overlap");
  job.overlap.grad_reduce = overlap.get<bool>("grad_reduce").default_to(true);
  job.overlap.param_gather = overlap.get<bool>("param_gather").default_to(true);
  job.overlap.tp_comm = overlap.get<bool>("tp_comm").default_to(false);
  job.overlap.ep_comm = overlap.get<bool>("ep_comm").default_to(false);
  if (job.overlap.ep_comm && plan.ep <= 1)
    overlap.fail_key("ep_comm", "true", "false without expert parallelism (parallel.ep > 1): there are no all-to-alls to overlap");
  // Megatron-LM's DistributedDataParallel: buckets of max(40 M, 1 M x dp) parameters.
  job.overlap.bucket_parameters =
      overlap.get<double>("bucket_parameters").default_to(std::max(40e6, 1e6 * plan.dp)).at_least(1.0);

  // training.stragglers: slow GPUs by global rank and per-pass variability.
  if (auto st = training.maybe("stragglers")) {
    if (auto slow = st->maybe("slow"))
      for (const auto& item : slow->items()) {
        const int rank = item.get<int>("rank").in_range(0, (1 << 30));
        const double factor = item.get<double>("factor").in_range(1.0, 100.0);
        job.stragglers.slow.emplace_back(rank, factor);
      }
    job.stragglers.jitter = st->get<double>("jitter").default_to(0.0).in_range(0.0, 2.0);
  }

  // training.documents: variable-length documents packed into each sequence (per-document masks).
  if (auto docs = training.maybe("documents")) sc.documents = workload::LengthDistribution::parse(docs->child("lengths"));
  if (sc.sharding && !sc.documents)
    sharding_cfg->fail_key("impl", sc.sharding->name,
                           "static_cp unless training.documents.lengths is given: regrouping places documents on the "
                           "ranks");

  // What one run can hold: every rank group (pipeline stage of a data-parallel replica) is a
  // simulated actor with its own stack (about 32,000 fit a process, see kMaxReplicas), and the
  // platform has a node per 8 or so GPUs.
  const long all_groups = static_cast<long>(plan.pp) * plan.dp;
  const long gpus = all_groups * plan.tp * plan.cp;  // in long: the degrees' product can overflow an int
  if (gpus > kMaxTrainingGpus)
    training.child("parallel").fail(fmt::format("tp x pp x dp x cp = {} GPUs; expected at most {}", gpus, kMaxTrainingGpus));
  // Identical data-parallel replicas: simulated all (exact, every rank an actor) or one (its peers'
  // traffic still on the network as flows; the same answer where replicas stay in lockstep).
  const std::string replicas =
      training.get<std::string>("simulate_replicas").default_to("auto").one_of({"auto", "all", "one"}).value();
  sc.one_replica = replicas == "one" || (replicas == "auto" && gpus > kFullSimulationGpus);
  const long groups = sc.one_replica ? plan.pp : all_groups;
  for (const auto& [rank, factor] : job.stragglers.slow) {
    if (rank >= gpus)
      training.child("stragglers").fail(fmt::format("slow rank {}: the job has ranks 0 to {}", rank, gpus - 1));
    // Megatron's order: tensor innermost, then context, data, pipeline.
    const long dp_index = (rank / (static_cast<long>(plan.tp) * plan.cp)) % plan.dp;
    if (sc.one_replica && dp_index > 0)
      training.child("stragglers").fail(fmt::format("slow rank {} is in data-parallel replica {}, and one replica is "
                                                    "simulated for all; set training.simulate_replicas: all",
                                                    rank, dp_index));
  }
  if (sc.one_replica && sc.documents)
    training.child("documents").fail("packed documents give every replica its own micro-batches; they need every replica "
                                     "simulated (training.simulate_replicas: all)");
  if (sc.one_replica && job.stragglers.jitter > 0)
    training.child("stragglers").fail_key("jitter", std::to_string(job.stragglers.jitter),
                                          "jitter needs every replica simulated (training.simulate_replicas: all): the "
                                          "slowest replica of each step paces the data-parallel collectives");
  if (groups > kMaxRankGroups)
    training.child("parallel").fail(fmt::format("{} rank groups (pp{}); expected at most {} (each is a simulated "
                                                "actor{})", groups, sc.one_replica ? "" : " x dp", kMaxRankGroups,
                                                sc.one_replica ? "" : "; training.simulate_replicas: one simulates one replica"));

  // The pipeline schedule (policies/training/pipeline/): it fixes the virtual stages per rank.
  const config::Node schedule_cfg = root.section("policies").section("pipeline_schedule");
  sc.schedule = Registry<training::PipelineSchedule>::instance().make(schedule_cfg, "1f1b");
  sc.schedule_name = schedule_cfg.get<std::string>("impl").default_to("1f1b").value();
  plan.virtual_stages = sc.schedule->virtual_stages();
  job.pipeline_v_shape = sc.schedule->v_shape();
  job.pipeline_bidirectional = sc.schedule->bidirectional();
  plan.copies = job.pipeline_bidirectional ? 2 : 1;
  if (plan.zero > 0 && plan.weight_replicas() == 1)
    training.fail_key("zero", std::to_string(plan.zero),
                      "ZeRO shards over the data- and context-parallel ranks (and DualPipe's two model copies); it "
                      "needs parallel.dp x cp > 1");
  if (plan.copies > 1 && plan.zero >= 3)
    schedule_cfg.fail(fmt::format("{} holds two copies of each model stage on different pipeline ranks, which ZeRO-3 "
                                  "cannot gather within a pass: expected training.zero <= 2", sc.schedule_name));
  // Each rank's schedule is an explicit order of passes: bounded so that it fits in memory.
  const double passes = 3.0 * static_cast<double>(job.microbatches()) * plan.virtual_stages * plan.pp;
  if (passes > kMaxPipelinePasses)
    training.fail_key("global_batch", std::to_string(job.global_batch),
                      fmt::format("{} micro-batches per data-parallel rank through {} stages x {} chunks make {:.3g} passes "
                                  "per iteration; expected at most {:.3g} (raise micro_batch or dp)",
                                  job.microbatches(), plan.pp, plan.virtual_stages, passes, kMaxPipelinePasses));
  if (!sc.one_replica && passes * plan.dp > kMaxIterationPasses)
    training.fail_key("global_batch", std::to_string(job.global_batch),
                      fmt::format("{:.3g} passes per iteration over all {} replicas; expected at most {:.3g} (each is "
                                  "simulated: raise micro_batch, or set training.simulate_replicas: one)",
                                  passes * plan.dp, plan.dp, kMaxIterationPasses));
  const training::PipelineShape shape = job.pipeline();
  try {
    sc.schedule->check(shape);
  } catch (const InputError& e) {
    schedule_cfg.fail(fmt::format("{} with pp {} and {} micro-batches per iteration: {}", sc.schedule_name, plan.pp,
                                  shape.microbatches, e.what()));
  }
  job.stage_layers = parse_partition(training, sc.model, job.model_stages());

  // Nodes: the preset or inline node, or one default node holding the whole job (shared with replay).
  sc.cluster_nodes = load_cluster_nodes(cluster, *sc.device, sc.gpus(), sc.fabric);
  sc.node = sc.cluster_nodes.node;
  sc.nodes = sc.cluster_nodes.nodes;
  load_placement(sc, root.section("policies").section("placement"));
  const int slots = sc.slots_per_node();

  if (auto storage = cluster.maybe("storage")) load_storage(sc, *storage);

  sc.nearest_ssd = nearest_ssds(*sc.node);

  // Memory per device, with the optimizer states off the devices under an offload policy.
  const config::Node policies = root.section("policies");
  const std::optional<config::Node> offload_cfg = policies.maybe("optimizer_offload");
  if (offload_cfg) sc.offload = read_optimizer_offload(sc, *offload_cfg);
  if (sc.offload && job.moment_dtype != DType::fp32)  // the CPU Adam kernels (DeepSpeed's) keep fp32 moments
    training.fail_key("optimizer_moments", "bf16", "fp32 with an optimizer offload (policies.optimizer_offload): its CPU "
                                                   "Adam keeps fp32 moments");
  sc.memory = rank_memories(sc, sc.offload != nullptr);
  sc.device_memory = usable_memory(*sc.device);

  // Collectives inside a pass that span nodes are priced at the slowest node group's NICs.
  const hw::NodeSpec* slowest = sc.node.get();
  for (int n = 0; n < sc.nodes; ++n) {
    const hw::NodeSpec& spec = sc.cluster_nodes.spec(n);
    if (!spec.nics.empty() && !slowest->nics.empty() && spec.nics.front().bandwidth < slowest->nics.front().bandwidth)
      slowest = &spec;
  }
  const auto cost_on = [&](const hw::Device& device) {
    hw::CostModel cost(device);
    cost.set_scale_out(scale_out_of(*slowest, sc.fabric, device));
    return cost;
  };
  const auto price_on = [&](const hw::Device& device) {
    return training::price_stages(sc.model, job, cost_on(device), slots);
  };
  sc.stages = price_on(*sc.device);
  if (sc.sharding) shard_documents(sc, cost_on(*sc.device));
  // Node groups of other devices: each type's stages priced on it (a pass runs at its devices' pace).
  for (const auto& d : sc.cluster_nodes.group_devices)
    if (d && std::none_of(sc.other_devices.begin(), sc.other_devices.end(), [&](const auto& o) { return o.device == d; })) {
      check_can_train(sc, *d, cluster.child("node_groups"), model.node);
      sc.other_devices.push_back({d, price_on(*d), usable_memory(*d)});
    }
  if (!sc.other_devices.empty() && sc.one_replica)
    training.fail_key("simulate_replicas", "one", "all when node groups hold different devices: replicas on them differ");
  if (sc.offload) price_optimizer_offload(sc, *offload_cfg);

  // Activation swapping: its share may depend on the layers' forward time and the host memory an
  // optimizer offload leaves; the devices then keep only the working layers' activations.
  if (auto cfg = policies.maybe("activation_offload")) {
    sc.swap = read_activation_offload(sc, *cfg, training);
    if (sc.swap) {
      sc.swap->without = sc.memory;
      sc.memory = rank_memories(sc, sc.offload != nullptr);
      check_swap_host_memory(sc, *cfg);
    }
  }
  if (sc.offload) {
    sc.offload->without = rank_memories(sc, false);
    for (const auto& m : sc.offload->without) sc.offload->needed |= m.total() > sc.device_memory;
  }
  for (std::size_t s = 0; s < sc.memory.size(); ++s) {
    // The stage's smallest device bounds it (with node groups of other devices).
    const int type = smallest_device_type(sc, static_cast<int>(s));
    const double capacity = sc.memory_of_type(type);
    const hw::Device& device = sc.device_of_type(type);
    if (sc.memory[s].total() > capacity) try {
      training.fail(fmt::format("the plan does not fit: {} ({}{}); more pipeline stages, a higher ZeRO stage, more "
                                "recompute, an optimizer offload (policies.optimizer_offload) or activation swapping "
                                "(policies.activation_offload) would reduce it",
                                training::over_capacity(sc.memory[s], fmt::format("rank (pipeline stage {})", s), capacity),
                                sc.other_devices.empty() ? "" : device.name + ", ",
                                device.usable_memory > 0 ? device.usable_memory_source : "datasheet capacity"));
    } catch (const InputError& e) {
      throw PlanDoesNotFit(e.what());  // the located message, as a distinct kind
    }
  }
  if (auto cfg = policies.maybe("checkpoint")) load_checkpoint(sc, *cfg);
  if (auto cfg = policies.maybe("failures")) load_failures(sc, *cfg, training);
  else if (training.has("recovery"))
    training.fail_key("recovery", "<map>", "recovery costs go with a failure process: give policies.failures too");

  const config::Node out = root.section("output");
  sc.timeline = out.get<bool>("timeline").default_to(false);
  doc.check_unknown_keys();
  sc.resolved = doc.resolved();
  return sc;
}

}  // namespace hetsim::sim
