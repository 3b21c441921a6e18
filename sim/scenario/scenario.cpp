#include "sim/scenario/scenario.hpp"

#include "sim/serving/expert_gating.hpp"
#include "sim/serving/expert_placement.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>

#include "hw/cluster_router.hpp"
#include "hw/sm_partition.hpp"
#include "sim/core/catalog.hpp"
#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"
#include "sim/scenario/expert_offload_config.hpp"
#include "sim/scenario/offload_config.hpp"
#include "sim/serving/memory_budget.hpp"
#include "workload/workload_source.hpp"

namespace hetsim::sim {

namespace {
struct Pool {
  std::string name;
  std::shared_ptr<const hw::Device> device;
  int replicas = 1;
  int tensor_parallel = 1;
  bool expert_parallel = false;  ///< MoE experts placed whole, E / tp per rank, instead of split in width
  /// Attention data parallelism (with expert_parallel): an instance of tp x data_parallel devices,
  /// each data-parallel rank running its share of the batch, the experts spread over all of them.
  int data_parallel = 1;
  /// Two micro-batches per step, one's expert all-to-alls overlapping the other's compute (SGLang's TBO).
  bool two_batch_overlap = false;
  bool deepep = false;  ///< moe_dispatcher: deepep
  int devices() const { return tensor_parallel * data_parallel; }
  /// An instance larger than its node spans whole nodes: their devices per node and the NIC level
  /// its collectives cross (0: one node).
  int span_devices_per_node = 0;
  hw::LinkLevel scale_out;
  serving::InstanceRole role = serving::InstanceRole::both;
  std::shared_ptr<const hw::NodeSpec> node;  ///< the pool's `node`, if given
  std::optional<config::Node> where;  ///< for messages about the pool
  /// semi-PD (Hong et al. 2025): each replica's devices run a prefill and a decode worker side by
  /// side on split SMs (CUDA MPS), one KV pool split between them.
  struct SemiPd {
    double prefill_sms = 0.5;   ///< the prefill worker's share of the SMs (the decode worker has the rest)
    double prefill_kv = 0.5;    ///< the prefill worker's share of the KV memory
    bool full_bandwidth = false;  ///< each worker reads HBM at its full rate (an upper bound), not its SM share of it
  };
  std::optional<SemiPd> semi_pd;
  /// Op offload (pool key offload): attention and the KV cache on offload devices.
  std::shared_ptr<const serving::OffloadPlan> offload;
};

/// `pool.node` (load_node), checked to hold whole instances of `devices` devices, or (an
/// instance larger than a node) to be spanned by whole nodes.
std::shared_ptr<const hw::NodeSpec> parse_pool_node(const config::Node& pool, int devices) {
  auto spec = load_node(pool);
  const auto slots = static_cast<int>(spec->device_slots.size());
  if (devices <= slots && slots % devices != 0)
    pool.fail_key("node", spec->name, fmt::format("its {} device slots do not split into instances of {} devices", slots, devices));
  if (devices > slots && devices % slots != 0)
    pool.fail_key("node", spec->name,
                  fmt::format("an instance of {} devices spans nodes, which must hold whole parts of it; this one has {} "
                              "device slots",
                              devices, slots));
  return spec;
}

/// Places `plan` (replica `r` of pool `p`) on a node instance: each node holds slots / TP
/// replicas. Returns the replica's slot on its node.
int place_on_node(Scenario& sc, ReplicaPlan& plan, const Pool& pool, std::size_t p, int r) {
  std::shared_ptr<const hw::NodeSpec> spec = pool.node;
  if (!spec) spec = std::make_shared<const hw::NodeSpec>(hw::default_node(*pool.device, pool.tensor_parallel));
  const int per_node = static_cast<int>(spec->device_slots.size()) / pool.tensor_parallel;
  const int slot = r % per_node;
  if (slot == 0) sc.nodes.push_back({spec, fmt::format("pool{}.node{}/", p, r / per_node)});
  plan.node = static_cast<int>(sc.nodes.size()) - 1;
  for (int i = 0; i < pool.tensor_parallel; ++i) {
    const std::string& name = spec->device_slots[static_cast<std::size_t>(slot * pool.tensor_parallel + i)];
    // A slot is a device's memory: the device placed there must be the one the node was built for.
    const hw::MemoryTier& held = *spec->topology.tier(name);
    const hw::MemoryTier& mem = pool.device->memory();
    if (std::abs(held.capacity - mem.capacity) > 0.02 * held.capacity)
      pool.where->fail_key("device", pool.device->name,
                           fmt::format("its {:.1f} GB of {} does not fit slot {} of node '{}' ({}), which holds {:.1f} GB",
                                       mem.capacity / 1e9, mem.technology, name, spec->name, spec->source, held.capacity / 1e9));
    plan.device_tiers.push_back(sc.nodes.back().prefix + name);
  }
  return slot;
}

/// Op offload over the platform: the tier of node `spec` that the offload side of an instance whose
/// first GPU is `gpu` uses: `request` names one (not device memory), or is a tier kind, the nearest
/// tier of that kind (fewest hops, then the fastest for 1 MiB). An InputError naming offload.tier else.
std::string offload_tier_of(const hw::NodeSpec& spec, const std::string& gpu, const std::string& request,
                            const config::Node& offload_cfg) {
  const auto fail = [&](const std::string& why) {
    if (offload_cfg.has("tier")) offload_cfg.fail_key("tier", request, why);
    offload_cfg.fail_key("link", "platform", why);
  };
  if (const hw::MemoryTier* named = spec.topology.tier(request)) {
    if (named->kind == hw::TierKind::hbm)
      fail(fmt::format("expected a tier of node '{}' outside device memory to offload to; {} is a GPU's HBM", spec.name, request));
    return request;
  }
  const auto kind = hw::parse_tier_kind(request);
  std::string best;
  std::pair<std::size_t, double> nearest{std::numeric_limits<std::size_t>::max(), 0.0};
  for (const hw::MemoryTier& t : spec.topology.tiers) {
    if (!kind || t.kind != *kind) continue;
    try {
      const std::pair<std::size_t, double> at{spec.topology.route(gpu, t.name).size(),
                                              spec.topology.idle_transfer_time(gpu, t.name, 1 << 20, 1 << 20)};
      if (at < nearest) nearest = at, best = t.name;
    } catch (const InputError&) {  // unreachable from this GPU: not a candidate
    }
  }
  if (best.empty()) {
    std::string names;
    for (const auto& t : spec.topology.tiers) names += fmt::format("{}{} ({})", names.empty() ? "" : ", ", t.name, hw::to_string(t.kind));
    fail(fmt::format("node '{}' ({}) has no {} tier reachable from {}; expected a tier name or kind; its tiers: {}",
                     spec.name, spec.source, request, gpu, names));
  }
  return best;
}

/// Op offload over the platform on a pool's node: the instances a node holds that reach the same
/// tier (its host DRAM; the drive nearest each) keep their offloaded KV there, an even share each
/// unless kv_memory says how much (checked to fit).
std::shared_ptr<const serving::OffloadPlan> share_node_tiers(const config::Node& pool_cfg, const Pool& pool) {
  const hw::NodeSpec& spec = *pool.node;
  const int devices = pool.devices();
  const int per_node = std::max(1, std::min(pool.replicas, static_cast<int>(spec.device_slots.size()) / devices));
  const config::Node cfg = pool_cfg.child("offload");
  std::map<std::string, int> sharing;  // tier -> instances of one node that offload to it
  for (int slot = 0; slot < per_node; ++slot)
    ++sharing[offload_tier_of(spec, spec.device_slots[static_cast<std::size_t>(slot * devices)], pool.offload->platform_tier, cfg)];
  auto offload = std::make_shared<serving::OffloadPlan>(*pool.offload);
  for (const auto& [name, n] : sharing) {
    const double capacity = spec.topology.tier(name)->capacity;
    if (!cfg.has("kv_memory")) {
      offload->kv_memory = std::min(offload->kv_memory, capacity / n);
    } else if (offload->kv_memory * n > capacity) {
      cfg.fail_key("kv_memory", cfg.child("kv_memory").shown(),
                   fmt::format("{} replicas on node '{}' keep {:.4g} GB of KV in its {} ({:.4g} GB) with link: platform; "
                               "expected at most {:.4g} GB each",
                               n, spec.name, offload->kv_memory * n / 1e9, name, capacity / 1e9, capacity / n / 1e9));
    }
  }
  return offload;
}

/// Op offload over the platform (offload link: platform): the replica's offload traffic flows
/// between its devices and its node's offload tier, and the pricer's link becomes that route as an
/// idle node has it (the narrowest bandwidth and the longest latency over its ranks, each way, in
/// the flows' 1 MiB requests).
void route_offload(const Scenario& sc, ReplicaPlan& plan, const config::Node& offload_cfg) {
  const NodeInstance& node = sc.nodes[static_cast<std::size_t>(plan.node)];
  const hw::NodeSpec& spec = *node.spec;
  const std::string first_gpu = plan.device_tiers.front().substr(node.prefix.size());
  const std::string tier = offload_tier_of(spec, first_gpu, plan.offload->platform_tier, offload_cfg);
  constexpr double kProbe = 1e9, kRequest = 1 << 20;  // bytes: transfers long enough that the bandwidth shows; the flows' requests
  double out = std::numeric_limits<double>::infinity(), back = out, latency = 0;  // bandwidths each way, to the tier and back
  for (const auto& full : plan.device_tiers) {
    const std::string gpu = full.substr(node.prefix.size());
    for (const auto& [from, to] : {std::pair{gpu, tier}, std::pair{tier, gpu}}) {
      try {
        // The slope of a long transfer's idle time, and what it takes beyond that: the route's
        // latencies, or nothing where a drive's I/O time hides them (its transfer takes the longer).
        const double one = spec.topology.idle_transfer_time(from, to, kProbe, kRequest);
        const double bandwidth_here = kProbe / (spec.topology.idle_transfer_time(from, to, 2 * kProbe, kRequest) - one);
        double& bandwidth = from == gpu ? out : back;
        bandwidth = std::min(bandwidth, bandwidth_here);
        latency = std::max(latency, std::max(0.0, one - kProbe / bandwidth_here));
      } catch (const InputError& e) {
        offload_cfg.fail_key("link", "platform", fmt::format("node '{}': {}", spec.name, e.what()));
      }
    }
  }
  auto offload = std::make_shared<serving::OffloadPlan>(*plan.offload);
  offload->link = {"platform", out, latency};
  offload->back_bandwidth = back;
  offload->link_source = fmt::format("the platform route between each GPU and {} of node '{}'", tier, spec.name);
  plan.offload = std::move(offload);
  plan.offload_tier = node.prefix + tier;
}

/// The tier `name` of `spec` ("" = its first DRAM tier) for request `request`, on the node instance
/// whose tiers are named `prefix` + name: a non-HBM tier, or the HBM of a GPU slot no replica runs
/// on (Harvest's idle peer-GPU memory, reached over the node's NVLink); an InputError naming the
/// request's key otherwise.
const hw::MemoryTier& kv_tier_of(const Scenario& sc, const hw::NodeSpec& spec, const std::string& prefix,
                                 const policies::KvTierRequest& request, std::string& name) {
  const config::Node& cfg = request.where;
  name = request.tier.empty() ? spec.first_dram_tier() : request.tier;
  const std::string key = request.store.empty() ? request.tier_key : request.tier.empty() ? "store" : "tier";
  const hw::MemoryTier* tier = spec.topology.tier(name);
  if (!tier) {
    std::string names;
    for (const auto& t : spec.topology.tiers) names += fmt::format("{}{}", names.empty() ? "" : ", ", t.name);
    cfg.fail_key(key, name.empty() ? request.tier : name,
                 fmt::format("node '{}' ({}) has no such tier{}; its tiers: {}", spec.name, spec.source,
                             name.empty() ? " (and no DRAM tier to default to)" : "", names));
  }
  if (tier->kind == hw::TierKind::hbm) {
    const std::string full = prefix + name;
    for (std::size_t r = 0; r < sc.replicas.size(); ++r) {
      const auto& held = sc.replicas[r].device_tiers;
      if (std::find(held.begin(), held.end(), full) != held.end())
        cfg.fail_key(key, name, fmt::format("expected a non-HBM tier of node '{}' ({}) to keep KV in, or the HBM of a GPU no "
                                            "replica runs on (Harvest); {} is replica {}'s device memory",
                                            spec.name, spec.source, name, r));
    }
  }
  return *tier;
}

/// A tier of a KV store node of the cluster, shared by every replica that names it: the store is
/// created by the first replica bound to it (sized from the request's capacity in whole-model KV,
/// all TP shards of a block together) and reached from each replica's devices over the platform.
policies::KvTierBinding bind_store(Scenario& sc, ReplicaPlan& plan, const policies::KvTierRequest& request,
                                   const hw::ClusterRouter* router, double block_bytes, double piece) {
  const config::Node& cfg = request.where;
  auto it = std::find_if(sc.kv_stores.begin(), sc.kv_stores.end(), [&](const KvStoreNode& k) { return k.name == request.store; });
  if (it == sc.kv_stores.end()) {
    std::string names;
    for (const auto& k : sc.kv_stores) names += fmt::format("{}{}", names.empty() ? "" : ", ", k.name);
    cfg.fail_key("store", request.store,
                 names.empty() ? std::string("the cluster has no KV store nodes; add one under cluster.kv_stores")
                               : fmt::format("expected a KV store of cluster.kv_stores: {}", names));
  }
  KvStoreNode& ks = *it;
  const NodeInstance& node = sc.nodes[static_cast<std::size_t>(ks.node)];
  std::string name;
  const hw::MemoryTier& tier = kv_tier_of(sc, *node.spec, node.prefix, request, name);
  const std::string full = node.prefix + name;
  const std::int64_t block_size = plan.kv->block_size();
  if (!ks.store) {
    if (request.bytes_per_device > tier.capacity)
      cfg.fail_key(request.size_key, fmt::format("{:.3g} GB", request.bytes_per_device / 1e9),
                   fmt::format("more than {} of KV store '{}' holds ({:.1f} GB)", name, ks.name, tier.capacity / 1e9));
    const double whole_block = sc.model.kv_bytes_per_token(1) * static_cast<double>(block_size);
    ks.store = std::make_shared<serving::KvBlockStore>(
        block_size, static_cast<std::int64_t>(std::floor(request.bytes_per_device / whole_block)), full);
  } else if (ks.store->block_size() != block_size || ks.store->tier_name(serving::kDeviceTier) != full) {
    cfg.fail_key("store", request.store,
                 fmt::format("replicas share KV store '{}' with different block sizes or tiers ({} tokens in {}, {} tokens "
                             "in {}); give every pool the same kv_cache block_size and store tier",
                             ks.name, ks.store->block_size(), ks.store->tier_name(serving::kDeviceTier), block_size, full));
  }
  double seconds = 0;
  for (const auto& device : plan.device_tiers) {
    try {
      seconds = std::max(seconds, router->idle_transfer_time(full, device, block_bytes, piece));
    } catch (const InputError& e) {
      cfg.fail_key("store", request.store,
                   fmt::format("device {} cannot reach KV store '{}': {}; place the pool on a node with NICs (pool key "
                               "node) and join the nodes with cluster.fabric",
                               device, ks.name, e.what()));
    }
  }
  return {plan.kv->store().add_tier(full, 0), fmt::format("{}/{}", ks.name, name), seconds, ks.store.get()};
}

/// Binds the tiers `plan`'s policies asked for in its KV store (swap space, offload tiers below
/// device memory): found on its node (`slot`: its place there) or on a KV store node of the
/// cluster (reached through `router`), checked, and added to the store under platform-wide names.
void bind_kv_tiers(Scenario& sc, ReplicaPlan& plan, const Pool& pool, int slot, const hw::ClusterRouter* router) {
  const NodeInstance& node = sc.nodes[static_cast<std::size_t>(plan.node)];
  const hw::NodeSpec& spec = *node.spec;
  const std::string& prefix = node.prefix;
  const double block_bytes = plan.kv_bytes_per_token * static_cast<double>(plan.kv->block_size());
  const std::string device_tier = plan.device_tiers.front().substr(prefix.size());
  auto bind = [&](const std::vector<policies::KvTierRequest>& requests) {
    std::vector<policies::KvTierBinding> bound;
    for (const auto& request : requests) {
      const config::Node& cfg = request.where;
      // In the pieces the policy copies a block in (block devices are slower in small requests).
      const double piece = request.chunk_tokens > 0
                               ? static_cast<double>(request.chunk_tokens) * plan.kv_bytes_per_token
                               : plan.kv->copy_cost({.tokens = plan.kv->block_size(), .blocks = 1}).request_size;
      if (!request.store.empty()) {
        bound.push_back(bind_store(sc, plan, request, router, block_bytes, piece));
        continue;
      }
      std::string name;
      const hw::MemoryTier& tier = kv_tier_of(sc, spec, prefix, request, name);
      for (const auto& from : plan.device_tiers) {
        try {
          (void)spec.topology.route(from.substr(prefix.size()), name);
        } catch (const InputError& e) {
          cfg.fail_key(request.tier_key, name, fmt::format("node '{}': {}", spec.name, e.what()));
        }
      }
      const double reserved = (slot + 1) * pool.tensor_parallel * request.bytes_per_device;
      if (reserved > tier.capacity)
        cfg.fail_key(request.size_key, fmt::format("{:.3g} GB", request.bytes_per_device / 1e9),
                     fmt::format("{} devices on node '{}' reserve {:.1f} GB, more than {} holds ({:.1f} GB)",
                                 (slot + 1) * pool.tensor_parallel, spec.name, reserved / 1e9, name, tier.capacity / 1e9));
      const auto blocks = static_cast<std::int64_t>(std::floor(request.bytes_per_device / block_bytes));
      bound.push_back({plan.kv->store().add_tier(prefix + name, blocks), name,
                       spec.topology.idle_transfer_time(name, device_tier, block_bytes, piece)});
    }
    return bound;
  };
  if (!plan.kv->allows_moves() && !plan.preemption->kv_tiers().empty())
    plan.preemption->kv_tiers().front().where.fail(
        "this preemption policy moves KV to another tier, which the chosen kv_cache policy does not allow (its cache "
        "index would lose the blocks); use preemption: {impl: recompute}");
  plan.kv->bind_kv_tiers(bind(plan.kv->kv_tiers()));
  std::vector<serving::KvTierIndex> swap_tiers;
  for (const auto& b : bind(plan.preemption->kv_tiers())) swap_tiers.push_back(b.index);
  plan.preemption->bind_kv_tiers(swap_tiers);
}

std::optional<double> optional_time(const config::Node& node, const char* key) {
  if (!node.has(key)) return std::nullopt;
  return node.quantity(key, units::Dim::time).positive().value();
}
}  // namespace

LoadedModel load_model(const config::Node& root) {
  auto model = catalog::with_preset(root, "model", "models/catalog");
  models::ModelSpec m = models::parse_model(model.node);
  model.preset.check_unknown_keys();
  return {std::move(m), model.node};
}

ScenarioHead load_head(const config::Document& doc) {
  const config::Node root = doc.root();
  // Braced initialisation evaluates in order: the name, the seed, then the model, as before.
  return ScenarioHead{scenario_name(root, doc.file()), doc.file(), root.get<unsigned long>("seed").default_to(1).value(),
                      load_model(root)};
}

std::shared_ptr<const hw::Device> load_device(const config::Node& parent) {
  auto device_cfg = catalog::with_preset(parent, "device", "hw/catalog");
  auto device = std::make_shared<const hw::Device>(hw::parse_device(device_cfg.node));
  device_cfg.preset.check_unknown_keys();
  return device;
}

std::shared_ptr<const hw::NodeSpec> load_node(const config::Node& parent, bool needs_devices) {
  std::shared_ptr<hw::NodeSpec> spec;
  const config::Node given = parent.child("node");
  if (given.is_scalar() || given.has("preset")) {
    auto layered = catalog::with_preset(parent, "node", "hw/nodes");
    spec = std::make_shared<hw::NodeSpec>(hw::parse_node(layered.node));
    layered.preset.check_unknown_keys();
    spec->source = fmt::format("hw/nodes/{}.yaml", given.is_scalar() ? given.scalar() : given.get<std::string>("preset").value());
  } else {
    spec = std::make_shared<hw::NodeSpec>(hw::parse_node(given));
    spec->source = "inline";
  }
  if (needs_devices && spec->device_slots.empty())
    parent.fail_key("node", spec->name,
                    fmt::format("node '{}' ({}) has no tier of kind hbm, so no device can be placed on it; a node without "
                                "devices can hold a KV store (cluster.kv_stores)",
                                spec->name, spec->source));
  return spec;
}

std::string scenario_name(const config::Node& root, const std::string& file) {
  // The name becomes the output folder out/<name>: no path separators, "..", hidden or control
  // characters. A name taken from the file name is made safe; a given one must be.
  auto name_char_ok = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'; };
  std::string from_file = std::filesystem::path(file).stem().string();
  for (char& c : from_file)
    if (!name_char_ok(c)) c = '_';
  if (from_file.empty()) from_file = "scenario";
  if (from_file.front() == '.') from_file.front() = '_';
  std::string name = root.get<std::string>("name").default_to(from_file);
  const bool safe_name = !name.empty() && name.front() != '.' && std::all_of(name.begin(), name.end(), name_char_ok);
  if (!safe_name) {
    std::string shown = "\"";
    for (char c : name) {
      const auto u = static_cast<unsigned char>(c);
      shown += c == '\t' ? std::string("\\t") : c == '\n' ? std::string("\\n") : c == '"' || c == '\\' ? std::string("\\") + c
               : u < 0x20 || u == 0x7f ? fmt::format("\\x{:02x}", u) : std::string(1, c);
    }
    root.fail_key("name", shown + "\"",
                  "expected letters, digits, '.', '_' or '-', not starting with '.' (it names the output folder out/<name>)");
  }
  return name;
}

/// The device's model engine needs a peak for each dtype the model computes in: GEMMs in
/// precision.gemm, elementwise ops, attention and the LM head in precision.activations.
void check_precision_peaks(const models::ModelSpec& m, const hw::Device& device, const config::Node& model) {
  const std::pair<const char*, DType> needed[] = {{"gemm", m.precision.gemm}, {"activations", m.precision.activations}};
  // An SoC that decodes on another engine needs the dtypes there too.
  const hw::Device decoding = device.decoding();
  for (const hw::Device* dev : {&device, &decoding}) {
    for (const auto& [key, dt] : needed) {
      const hw::Device& d = *dev;
      if (d.peak(dt) > 0) continue;
      std::string has;
      for (DType t : kDTypes)
        if (d.peak(t) > 0) has += fmt::format("{}{}", has.empty() ? "" : ", ", to_string(t));
      const std::string engine = d.engines.size() > 1 ? fmt::format(" engine {}", d.compute().name) : "";
      const std::string from =
          model.has("precision") ? "" : fmt::format(" (the default for torch_dtype {})", to_string(m.torch_dtype));
      throw InputError(fmt::format("{}.{} = {}{}: device {}{} has no {} peak in its catalog entry; expected a dtype it has: {}",
                                   model.locate("precision"), key, to_string(dt), from, d.name, engine, to_string(dt),
                                   has));
    }
  }
}

std::string describe_fleet(const Scenario& sc) {
  std::vector<std::pair<std::string, int>> groups;
  for (const auto& r : sc.replicas) {
    // A semi-PD pair is one replica on its devices: counted once, at its prefill worker.
    if (r.partner >= 0 && r.role == serving::InstanceRole::decode) continue;
    const hw::Device& d = *r.device;
    std::string engine = d.engines.size() <= 1 ? ""
                         : d.decode_engine == d.engine
                             ? d.compute().name
                             : fmt::format("{} prefill, {} decode", d.compute().name, d.engines[d.decode_engine].name);
    if (d.split) {
      // HeteroInfer: "gpu, gemm shared with npu"
      std::string classes;
      for (OpClass c : kOpClasses)
        if (d.split->ops[static_cast<std::size_t>(c)]) classes += fmt::format("{}{}", classes.empty() ? "" : "/", to_string(c));
      engine += fmt::format(", {} shared with {}", classes, d.engines[d.split->with].name);
    }
    if (!engine.empty()) engine = " (" + engine + ")";
    const std::string key =
        fmt::format("{}{} {}{}{}", r.device->name, engine, r.parallel.describe(), r.partner >= 0 ? " semi-PD" : "",
                    r.offload ? fmt::format(" + {}", r.offload->describe()) : "");
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == key; });
    if (it == groups.end()) groups.emplace_back(key, 1);
    else ++it->second;
  }
  std::string out;
  for (const auto& [k, n] : groups) out += fmt::format("{}{} x {}", out.empty() ? "" : " + ", n, k);
  return out;
}

hw::Cluster platform_of(const Scenario& sc) {
  hw::Cluster c;
  c.fabric = sc.fabric;
  for (const auto& node : sc.nodes)
    c.nodes.push_back({node.prefix, std::shared_ptr<const hw::NodeTopology>(node.spec, &node.spec->topology),
                       std::shared_ptr<const std::vector<hw::Nic>>(node.spec, &node.spec->nics)});
  return c;
}

/// Bytes of a device's dense MLP weights (the matrices LLM in a flash streams).
double mlp_weight_bytes(const models::ModelSpec& m, int tp) {
  return static_cast<double>(m.num_hidden_layers * m.mlp_matrices()) * static_cast<double>(m.hidden_size) *
         static_cast<double>(m.intermediate_size) * m.precision.weight_bytes_per_element() / tp;
}

/// serving.flash (with weights: storage): LLM in a flash's sparse, windowed, bundled MLP reads.
std::optional<hw::FlashStreaming> flash_streaming(const config::Node& serving, const models::ModelSpec& m,
                                                  const hw::MemoryTier& storage, int tp) {
  const auto cfg = serving.maybe("flash");
  if (!cfg) return std::nullopt;
  if (m.moe.enabled())
    serving.fail_key("flash", cfg->shown(), fmt::format("{} is an MoE model; flash streaming of experts is not modelled", m.name));
  hw::FlashStreaming f;
  f.active = cfg->get<double>("active_neurons").required().in_range(1e-4, 1.0);
  f.window = cfg->get<int>("window").default_to(0).in_range(0, 1 << 20);
  const bool bundling = cfg->get<bool>("bundling").default_to(false);
  // One neuron's row of one matrix, or (bundled) its rows of all the MLP's matrices in one read.
  f.chunk = static_cast<double>(m.hidden_size) * m.precision.weight_bytes_per_element() *
            static_cast<double>(bundling ? m.mlp_matrices() : 1) / tp;
  f.request_half = storage.request_half;
  // PowerInfer-2's neuron cache: hot_cache {neurons: fraction kept in DRAM, activations: their share
  // of all activations}. Both are properties of the model and predictor, so neither has a default.
  if (const auto hot = cfg->maybe("hot_cache")) {
    f.hot = hot->get<double>("neurons").required().in_range(0.0, 1.0);
    f.hot_share = hot->get<double>("activations").required().in_range(0.0, 1.0);
    if (f.hot_share < f.hot)
      hot->fail_key("activations", hot->child("activations").scalar(),
                    fmt::format("expected at least neurons ({:g}): the cached neurons are the most often active", f.hot));
    if (f.hot < 1 && f.cold_active() > 1)
      hot->fail_key("activations", hot->child("activations").scalar(),
                    fmt::format("expected at least {:g}: with {:g} of the neurons active per token, the uncached {:g} cannot "
                                "take more than all of their own",
                                1 - (1 - f.hot) / f.active, f.active, 1 - f.hot));
  }
  return f;
}

/// Weights LLM in a flash keeps in DRAM: everything but the MLP matrices, the hot neurons' rows
/// (PowerInfer-2's cache), and the cold neurons the window's tokens (at least the current one) activated.
double flash_dram_weights(const models::ModelSpec& m, const hw::FlashStreaming& f, int tp) {
  const double mlp = mlp_weight_bytes(m, tp);
  const double cached = f.hot + (1 - f.hot) * (1 - std::pow(1 - f.cold_active(), std::max(1, f.window)));
  return m.weight_bytes_per_device(tp) - mlp + mlp * cached;
}

/// With attention offload the KV cache lives on the offload side: its memory, shared by the
/// instance's TP ranks, sizes the cache; the GPUs must still hold the weights and activations.
policies::KvSizing offloaded_kv_sizing(const policies::KvSizing& gpu, const serving::OffloadPlan& offload, const Pool& pool,
                                       const models::ModelSpec& model) {
  constexpr double GiB = 1 << 30;
  const double needed = gpu.weight_bytes + gpu.activation_bytes + gpu.non_torch_bytes + gpu.graph_bytes;
  if (needed > gpu.device_memory_bytes)
    pool.where->fail_key("offload", offload.policy,
                         fmt::format("{} at TP{} still needs {:.2f} GiB per GPU for weights, activations and the stack "
                                     "(the KV cache moves to the offload side), more than {}'s {:.2f} GiB",
                                     model.name, pool.tensor_parallel, needed / GiB, pool.device->name,
                                     gpu.device_memory_bytes / GiB));
  policies::KvSizing kv = gpu;
  kv.device_memory_bytes = offload.kv_memory / pool.tensor_parallel;
  if (offload.gpu_kv) {
    // NEO: the GPU's own KV budget joins the offload side's (the same utilization applies to both).
    kv.device_memory_bytes += gpu.device_memory_bytes;
    return kv;
  }
  kv.weight_bytes = kv.activation_bytes = kv.non_torch_bytes = kv.graph_bytes = 0;
  return kv;
}

/// Weights each side of a layer range split holds: the host the embedding, its layers and (unless on
/// the GPU) the output layer; the GPU its layers and, with output_on_gpu, the output layer (for tied
/// embeddings a second copy of the table).
struct SplitWeights {
  double gpu = 0, host = 0;
};
SplitWeights layer_split_weights(const models::ModelSpec& m, const serving::LayerSplit& s) {
  const double outside = m.weight_bytes() - m.layers_weight_bytes(0, s.total_layers);
  const double norm = static_cast<double>(m.norm_parameters()) * bytes_per_element(m.precision.activations);
  const double head = static_cast<double>(m.vocab_size * m.hidden_size) * m.lm_head_bytes_per_element() + norm;
  const double embedding = m.tie_word_embeddings ? outside - norm : outside - head;
  // The routed experts of GPU layers that run on the host stay in host memory (--n-cpu-moe).
  const double experts_apart = s.experts_apart() * static_cast<double>(m.moe.experts) * m.routed_expert_bytes();
  SplitWeights w;
  w.gpu = m.layers_weight_bytes(s.host_layers(), s.gpu_layers) - experts_apart + (s.output_on_gpu ? head : 0.0);
  w.host = m.layers_weight_bytes(0, s.host_layers()) + experts_apart +
           (s.output_on_gpu ? embedding : m.tie_word_embeddings ? outside : embedding + head);
  return w;
}

/// A layer range split sizes its KV on the GPU for the GPU's layers and caps it by what the host's
/// memory holds for the others (`host_tokens`, infinite without host layers); with no GPU layers the
/// host's memory alone sizes it.
struct SplitKvSizing {
  policies::KvSizing sizing;
  double host_tokens = std::numeric_limits<double>::infinity();
};
SplitKvSizing layer_split_kv_sizing(const policies::KvSizing& gpu, const serving::OffloadPlan& offload, const Pool& pool,
                                    const models::ModelSpec& model) {
  constexpr double GiB = 1 << 30;
  const serving::LayerSplit& s = *offload.layers;
  const SplitWeights w = layer_split_weights(model, s);
  const config::Node where = pool.where->child("offload");
  const double L = s.total_layers;
  const double gpu_needed = w.gpu + gpu.activation_bytes + gpu.non_torch_bytes + gpu.graph_bytes;
  if (gpu_needed > gpu.device_memory_bytes)
    where.fail_key("gpu_layers", std::to_string(s.gpu_layers),
                   fmt::format("{}'s {} GPU layers{} need {:.2f} GiB of {} for weights ({:.2f} GiB), activations and the stack, "
                               "more than its {:.2f} GiB; lower gpu_layers",
                               model.name, s.gpu_layers, s.output_on_gpu ? " and output layer" : "", gpu_needed / GiB,
                               pool.device->name, w.gpu / GiB, gpu.device_memory_bytes / GiB));
  const double host_kv = offload.kv_memory - w.host;
  if (host_kv <= 0)
    where.fail_key("gpu_layers", std::to_string(s.gpu_layers),
                   fmt::format("the host's {} layers and embedding{} take {:.2f} GiB, more than the {:.2f} GiB of {} the split may "
                               "use (offload.kv_memory or the device's memory)",
                               s.host_layers(), s.output_on_gpu ? "" : " and output layer", w.host / GiB, offload.kv_memory / GiB,
                               offload.device->name));
  SplitKvSizing out;
  out.sizing = gpu;
  if (s.gpu_layers == 0) {
    // All KV on the host: its memory, less the weights there, is the cache (no GPU activations).
    out.sizing.device_memory_bytes = offload.kv_memory;
    out.sizing.weight_bytes = w.host;
    out.sizing.activation_bytes = out.sizing.non_torch_bytes = out.sizing.graph_bytes = 0;
    return out;
  }
  out.sizing.weight_bytes = w.gpu;
  out.sizing.kv_bytes_per_token = gpu.kv_bytes_per_token * s.gpu_layers / L;
  out.sizing.layers = s.gpu_layers;
  if (s.host_layers() > 0) out.host_tokens = host_kv / (gpu.kv_bytes_per_token * s.host_layers() / L);
  return out;
}

Scenario load_scenario(const config::Document& doc) {
  const config::Node root = doc.root();
  Scenario sc;
  const ScenarioHead head = load_head(doc);
  sc.file = head.file;
  sc.name = head.name;
  sc.seed = head.seed;
  const LoadedModel& model = head.model;
  sc.model = model.spec;

  // A cluster is one pool of identical replicas ({device, replicas, tensor_parallel}) or a list of
  // such pools behind one router (cluster.pools), e.g. 2 H100 replicas + 4 A100 replicas.
  const config::Node cluster = root.child("cluster");
  std::vector<config::Node> pool_cfgs;
  if (cluster.has("pools")) {
    for (const char* k : {"device", "replicas", "tensor_parallel", "expert_parallel", "node"})
      if (cluster.has(k)) cluster.fail_key(k, "", "give either cluster.pools or a single pool's keys, not both");
    pool_cfgs = cluster.child("pools").items();
    if (pool_cfgs.empty()) cluster.fail_key("pools", "[]", "expected at least one pool");
  } else {
    pool_cfgs.push_back(cluster);
  }
  // cluster.fabric (hw/cluster_topology.hpp) joins the node instances' NICs into one network.
  if (cluster.has("fabric")) sc.fabric = hw::parse_fabric(cluster.child("fabric"));
  // KV store nodes (Mooncake Store, LMCache's remote backend): nodes without devices whose memory
  // holds KV for every replica; KV policies name them as tiers (store: NAME).
  if (auto stores = cluster.maybe("kv_stores")) {
    for (const auto& item : stores->items()) {
      KvStoreNode ks;
      ks.name = item.get<std::string>("name").value();
      if (ks.name.empty() || ks.name.find('/') != std::string::npos)
        item.fail_key("name", ks.name, "expected a non-empty name without '/'");
      for (const auto& other : sc.kv_stores)
        if (other.name == ks.name) item.fail_key("name", ks.name, "KV store names must be unique");
      sc.nodes.push_back({load_node(item, false), ks.name + "/"});
      ks.node = static_cast<int>(sc.nodes.size()) - 1;
      sc.kv_stores.push_back(std::move(ks));
    }
  }
  std::vector<Pool> pools;
  int total_replicas = 0;  // at most kMaxReplicas
  for (const auto& pool_cfg : pool_cfgs) {
    Pool pool;
    pool.device = load_device(pool_cfg);
    // A serving replica runs whole model steps; a device that runs only some op classes (PIM) can
    // only be an offload target for policies.
    for (OpClass c : {OpClass::gemm, OpClass::attention_prefill, OpClass::attention_decode, OpClass::elementwise})
      if (!pool.device->can_run(c))
        pool_cfg.fail_key("device", pool.device->name,
                          fmt::format("a {} device cannot run {} ops, so it cannot host a serving replica", pool.device->kind_name,
                                      to_string(c)));
    pool.replicas = pool_cfg.get<int>("replicas").default_to(1).at_least(1);
    pool.tensor_parallel = pool_cfg.get<int>("tensor_parallel").default_to(1).in_range(1, 1024);
    sc.model.check_tensor_parallel(pool.tensor_parallel, pool_cfg, "tensor_parallel");
    check_precision_peaks(sc.model, *pool.device, model.node);
    pool.name = pool_cfg.get<std::string>("name").default_to(
        fmt::format("{}{}", pool.device->name, pool.tensor_parallel > 1 ? fmt::format(" TP{}", pool.tensor_parallel) : ""));
    // Read (and recorded in resolved.yaml) for MoE models, or when given, to name the error.
    if (sc.model.moe.enabled() || pool_cfg.has("expert_parallel"))
      pool.expert_parallel = pool_cfg.get<bool>("expert_parallel").default_to(false);
    if (pool.expert_parallel && !sc.model.moe.enabled())
      pool_cfg.fail_key("expert_parallel", "true", fmt::format("{} has no experts (not an MoE model)", sc.model.name));
    if (pool_cfg.has("data_parallel")) {
      pool.data_parallel = pool_cfg.get<int>("data_parallel").in_range(1, 4096);
      if (pool.data_parallel > 1 && !pool.expert_parallel)
        pool_cfg.fail_key("data_parallel", std::to_string(pool.data_parallel),
                          "attention data parallelism joins ranks through their experts: it needs expert_parallel: true "
                          "(without it, data-parallel copies are just more replicas)");
    }
    if (pool_cfg.has("moe_dispatcher")) {
      // How tokens reach their experts: a plain all-to-all of every (token, expert) row, or DeepEP's
      // (SGLang's --enable-deepep-moe): once per remote node, then over NVLink inside it.
      pool.deepep = pool_cfg.get<std::string>("moe_dispatcher").one_of({"alltoall", "deepep"}).value() == "deepep";
      if (pool.deepep && pool.data_parallel <= 1)
        pool_cfg.fail_key("moe_dispatcher", "deepep",
                          "alltoall unless wide expert parallelism dispatches tokens (expert_parallel: true and "
                          "data_parallel > 1)");
    }
    if (pool_cfg.has("two_batch_overlap")) {
      pool.two_batch_overlap = pool_cfg.get<bool>("two_batch_overlap");
      if (pool.two_batch_overlap && pool.data_parallel <= 1)
        pool_cfg.fail_key("two_batch_overlap", "true",
                          "it overlaps the expert all-to-alls of wide expert parallelism: it needs expert_parallel: true and "
                          "data_parallel > 1");
    }
    if (pool.expert_parallel && sc.model.moe.experts % pool.devices() != 0)
      pool_cfg.fail_key("expert_parallel", "true",
                        fmt::format("{}'s {} experts do not split evenly over the {} ranks (tensor_parallel x data_parallel)",
                                    sc.model.name, sc.model.moe.experts, pool.devices()));
    if (pool_cfg.has("node")) pool.node = parse_pool_node(pool_cfg, pool.devices());
    const int node_slots = pool.node ? static_cast<int>(pool.node->device_slots.size()) : 0;
    // A data-parallel instance beyond 8 devices spans nodes, which must be named for their NICs. (A
    // tensor-parallel instance without a node is priced on one scale-up domain, as before nodes.)
    if (!pool.node && pool.data_parallel > 1 && pool.devices() > 8)
      pool_cfg.fail_key("data_parallel", std::to_string(pool.data_parallel),
                        fmt::format("an instance of {} devices spans nodes; give the pool a `node` (e.g. hgx-h100) whose "
                                    "NICs join them",
                                    pool.devices()));
    if (pool.node && pool.devices() > node_slots) {
      // The instance spans nodes: its collectives cross their NICs.
      pool.span_devices_per_node = node_slots;
      pool.scale_out = scale_out_of(*pool.node, sc.fabric, *pool.device);
      if (pool.scale_out.bandwidth <= 0)
        pool_cfg.fail_key("node", pool.node->name,
                          fmt::format("an instance of {} devices spans nodes, and node '{}' has no NIC to join them",
                                      pool.devices(), pool.node->name));
    }
    // Prefill/decode disaggregation: what the pool's instances serve (a P/D controller moves
    // sequences from prefill to decode instances).
    if (pool_cfg.has("role"))
      pool.role = *serving::parse_instance_role(pool_cfg.get<std::string>("role").one_of({"both", "prefill", "decode"}).value());
    if (auto spd = pool_cfg.maybe("semi_pd")) {
      if (pool_cfg.has("role"))
        pool_cfg.fail_key("role", pool_cfg.child("role").scalar(),
                          "no role with semi_pd: each replica becomes a prefill and a decode worker on the same devices");
      Pool::SemiPd s;
      s.prefill_sms = spd->get<double>("prefill_sms").default_to(0.5).in_range(0.01, 0.99);
      s.prefill_kv = spd->get<double>("prefill_kv").default_to(0.5).in_range(0.01, 0.99);
      s.full_bandwidth = spd->get<std::string>("memory_bandwidth").default_to("split").one_of({"split", "full"}).value() == "full";
      pool.semi_pd = s;
    }
    pool.offload = parse_offload(pool_cfg, sc.model, *pool.device, pool.tensor_parallel);
    if (pool.offload && pool.offload->on_platform && pool.node) pool.offload = share_node_tiers(pool_cfg, pool);
    if (pool.offload && pool.offload->experts != serving::ExpertsOn::gpu && (pool.expert_parallel || pool.data_parallel > 1))
      pool_cfg.fail_key("offload", pool.offload->policy,
                        "routed experts on PIM are modelled for tensor-parallel experts (Duplex's +ET: experts split over the "
                        "node's devices); remove expert_parallel and data_parallel, or set offload.experts: gpu");
    if (pool.offload && pool.two_batch_overlap)
      pool_cfg.fail_key("two_batch_overlap", "true", "no two-batch overlap with offload: offload pipelines its own sub-batches");
    if (pool.offload && pool.semi_pd)
      pool_cfg.fail_key("offload", pool.offload->policy, "no offload with semi_pd: a semi-PD pair shares one KV pool on its GPUs");
    pool.where = pool_cfg;
    const int instances = pool.replicas * (pool.semi_pd ? 2 : 1);  // semi-PD: two workers each
    if (instances > kMaxReplicas - total_replicas)
      pool_cfg.fail_key("replicas", std::to_string(pool.replicas),
                        fmt::format("expected at most {} replicas in all pools ({} with this one, a semi-PD replica "
                                    "counting twice): each is a simulated actor with its own stack, and a process has "
                                    "room for about 32,000",
                                    kMaxReplicas, static_cast<std::int64_t>(total_replicas) + instances));
    total_replicas += instances;
    pools.push_back(std::move(pool));
  }

  const config::Node serving = root.section("serving");
  sc.max_model_len = serving.get<std::int64_t>("max_model_len").default_to(sc.model.max_position_embeddings).at_least(1);
  if (sc.max_model_len > sc.model.max_position_embeddings)
    serving.fail_key("max_model_len", std::to_string(sc.max_model_len),
                     fmt::format("expected at most the model's max_position_embeddings ({} for {})",
                                 sc.model.max_position_embeddings, sc.model.name));
  sc.over_length = serving::OverLength::parse(serving, sc.max_model_len);
  // Where the weights live: in device memory (default), or in the device's flash storage, read
  // in full every step (LLM in a flash) so that device memory holds only KV and activations.
  const bool weights_in_storage =
      serving.get<std::string>("weights").default_to("device_memory").one_of({"device_memory", "storage"}).value() == "storage";
  if (serving.has("flash") && !weights_in_storage)
    serving.fail_key("flash", serving.child("flash").shown(),
                     "flash streaming reads the MLP weights from the device's storage; it needs serving.weights: storage");
  // The serving engine simulated (hw/stacks/NAME.yaml, or a map with `preset:` and overrides);
  // vLLM V1 by default, the engine most users serve with.
  const auto default_stack = config::Document::load_string("stack: vllm-v1\n", "serving.stack (default)");
  auto stack_cfg = catalog::with_preset(serving.has("stack") ? serving : default_stack.root(), "stack", "hw/stacks");
  const auto stack = std::make_shared<const hw::ServingStack>(hw::parse_serving_stack(stack_cfg.node));
  stack_cfg.preset.check_unknown_keys();

  const config::Node policy_cfg = root.section("policies");
  // MoE gating: each expert's share of the routed tokens, which the step pricers read from the model.
  if (auto gating = policy_cfg.maybe("moe_gating")) {
    if (!sc.model.moe.enabled())
      policy_cfg.fail_key("moe_gating", gating->shown(), fmt::format("{} has no experts (not an MoE model)", sc.model.name));
    sc.model.moe.expert_share =
        Registry<policies::ExpertGating>::instance().make(*gating, "balanced")->shares(sc.model.moe.experts, sc.seed);
  }
  // Expert placement over each expert-parallel pool's ranks (by default vLLM's linear one, priced
  // without a table); redundant copies (EPLB) take memory on their ranks.
  if (auto placement = policy_cfg.maybe("expert_placement")) {
    if (!sc.model.moe.enabled())
      policy_cfg.fail_key("expert_placement", placement->shown(), fmt::format("{} has no experts (not an MoE model)", sc.model.name));
    const auto policy = Registry<policies::ExpertPlacement>::instance().make(*placement, "linear");
    bool placed_any = false;
    for (const Pool& pool : pools) {
      if (!pool.expert_parallel || pool.devices() <= 1) continue;  // one rank holds every expert anyway
      placed_any = true;
      if (!sc.model.moe.placement(pool.devices()))
        sc.model.moe.placements.push_back(policy->place(sc.model.moe.expert_share, sc.model.moe.experts, pool.devices()));
    }
    if (!placed_any)
      policy_cfg.fail_key("expert_placement", placement->shown(),
                          "expected a pool with expert_parallel: true over more than one device (placement spreads experts "
                          "over expert-parallel ranks)");
  }
  const config::Node scheduler_cfg = policy_cfg.section("scheduler");
  const config::Node kv_cfg = policy_cfg.section("kv_cache");
  const config::Node preemption_cfg = policy_cfg.section("preemption");
  struct Placed {
    std::size_t replica, pool;
    int slot;
  };
  std::vector<Placed> placed;  // replicas on nodes, their KV tiers bound once all are placed
  for (std::size_t p = 0; p < pools.size(); ++p) {
    const Pool& pool = pools[p];
    // Speculative decoding: the drafter's weights and KV share each device with the target's.
    const auto speculation = serving::parse_speculation(policy_cfg, sc.model, pool.tensor_parallel, sc.seed);
    if (speculation && pool.offload)
      pool.where->fail_key("offload", pool.offload->policy,
                           "no offload with policies.speculative: the drafter's attention and KV placement are not modelled");
    if (pool.offload && weights_in_storage)
      serving.fail_key("weights", "storage", fmt::format("pool '{}' offloads attention (pool key offload); weights in storage "
                                                         "and attention offload together are not modelled", pool.name));
    // semi-PD: two workers per replica, on split SMs of the same devices.
    struct Worker {
      serving::InstanceRole role;
      std::shared_ptr<const hw::Device> device;
      double sms = 1, kv = 1;
    };
    std::vector<Worker> workers{{pool.role, pool.device}};
    if (pool.semi_pd) {
      const Pool::SemiPd& spd = *pool.semi_pd;
      auto part = [&](double sms) {
        return std::make_shared<const hw::Device>(hw::sm_partition(*pool.device, sms, spd.full_bandwidth ? 1.0 : sms));
      };
      workers = {{serving::InstanceRole::prefill, part(spd.prefill_sms), spd.prefill_sms, spd.prefill_kv},
                 {serving::InstanceRole::decode, part(1 - spd.prefill_sms), 1 - spd.prefill_sms, 1 - spd.prefill_kv}};
    }
    for (int r = 0; r < pool.replicas; ++r) {
      for (const Worker& worker : workers) {
        ReplicaPlan plan;
        plan.pool = pool.name;
        plan.device = worker.device;
        plan.device_share = worker.sms;
        plan.parallel.tp = pool.tensor_parallel;
        plan.parallel.dp = pool.data_parallel;
        if (pool.expert_parallel) plan.parallel.ep = pool.devices();
        plan.span_devices_per_node = pool.span_devices_per_node;
        plan.two_batch_overlap = pool.two_batch_overlap;
        plan.deepep = pool.deepep;
        plan.scale_out = pool.scale_out;
        plan.role = worker.role;
        if (weights_in_storage) {
          const hw::MemoryTier* storage = pool.device->storage();
          if (!storage)
            serving.fail_key("weights", "storage", fmt::format("device {} has no 'storage' in its entry", pool.device->name));
          if (sc.model.weight_bytes_per_device(pool.tensor_parallel) > storage->capacity)
            serving.fail_key("weights", "storage", fmt::format("{} needs {:.1f} GB, device storage holds {:.1f} GB", sc.model.name,
                                                               sc.model.weight_bytes_per_device(pool.tensor_parallel) / 1e9,
                                                               storage->capacity / 1e9));
          plan.placement = hw::OperandPlacement::weights_in(*pool.device, hw::TierKind::flash);
          plan.placement.flash = flash_streaming(serving, sc.model, *storage, pool.tensor_parallel);
        }
        plan.stack = stack;
        plan.scheduler = Registry<policies::Scheduler>::instance().make(scheduler_cfg, "vllm");
        plan.kv = Registry<policies::KvManager>::instance().make(kv_cfg, "paged");
        plan.preemption = Registry<policies::Preemption>::instance().make(preemption_cfg, "recompute");
        plan.kv_bytes_per_token = sc.model.kv_bytes_per_token(pool.tensor_parallel);
        // vLLM's accounting: usable memory x utilization - weights - activation peak of the largest
        // step - non-torch - CUDA graphs (sim/serving/memory_budget.hpp).
        policies::KvSizing sizing = serving::kv_sizing(*pool.device, sc.model, *stack, pool.tensor_parallel,
                                                       plan.scheduler->step_limits(), !weights_in_storage);
        if (plan.placement.flash) sizing.weight_bytes = flash_dram_weights(sc.model, *plan.placement.flash, pool.tensor_parallel);
        if (auto experts = parse_expert_offload(serving, sc.model, *pool.device)) {
          // Experts in host memory, a cache of them on each GPU: the rest's weights leave GPU memory.
          if (pool.expert_parallel)
            serving.fail_key("expert_offload", "", fmt::format("pool '{}' uses expert_parallel; expert offload is modelled for "
                                                               "tensor-parallel experts (each rank loads its slice)",
                                                               pool.name));
          if (pool.offload || weights_in_storage)
            serving.fail_key("expert_offload", "", fmt::format("pool '{}' {}; expert offload is modelled with the other weights "
                                                               "in GPU memory and attention on the GPU",
                                                               pool.name, pool.offload ? "offloads attention" : "keeps weights in storage"));
          const double host_bytes = serving::host_expert_bytes(sc.model, *experts, pool.tensor_parallel);
          if (pool.node) {
            // Each replica's processes keep their slices of the uncached experts in the node's DRAM
            // (pinned, to copy from): the replicas a node holds must fit there together.
            const hw::MemoryTier* dram = pool.node->topology.tier(pool.node->first_dram_tier());
            const int per_node = std::min<int>(pool.replicas, static_cast<int>(pool.node->device_slots.size()) / pool.tensor_parallel);
            const double needed = host_bytes * pool.tensor_parallel * per_node;
            if (dram && needed > dram->capacity)
              serving.fail_key("expert_offload", fmt::format("{{cached_experts: {}}}", experts->cached),
                               fmt::format("{} replica(s) on node '{}' keep {:.1f} GB of uncached experts in {}, which holds {:.1f} GB",
                                           per_node, pool.node->name, needed / 1e9, dram->name, dram->capacity / 1e9));
          }
          sizing.weight_bytes -= host_bytes;
          plan.expert_offload = std::move(experts);
        }
        sizing.kv_share = worker.kv;
        if (pool.data_parallel > 1) {
          // Each data-parallel rank holds the dense parts whole (at tp), its share of the experts,
          // and the KV of its own sequences; the scheduler's limits are the instance's, split over the ranks.
          const policies::StepLimits all = plan.scheduler->step_limits();
          const policies::StepLimits rank{(all.tokens + pool.data_parallel - 1) / pool.data_parallel,
                                          (all.sequences + pool.data_parallel - 1) / pool.data_parallel};
          sizing = serving::kv_sizing(*pool.device, sc.model, *stack, pool.tensor_parallel, rank, !weights_in_storage);
          sizing.weight_bytes = sc.model.weight_bytes_per_device(pool.tensor_parallel, pool.devices());
          sizing.kv_share = worker.kv * pool.data_parallel;  // the instance's KV is every rank's
        }
        if (const models::ExpertSlots* slots = pool.expert_parallel ? sc.model.moe.placement(pool.devices()) : nullptr) {
          // Each redundant copy is one more expert's gate, up and down matrices on its rank (the
          // busiest rank holds ceil(redundant / ranks) of them).
          const auto extra = (slots->redundant + slots->ranks - 1) / slots->ranks;
          sizing.weight_bytes += static_cast<double>(extra) * sc.model.routed_expert_bytes() *
                                 static_cast<double>(sc.model.moe.moe_layers(sc.model.num_hidden_layers));
        }
        const policies::KvSizing gpu_sizing = sizing;
        // PIM in the GPUs' own memory leaves the KV cache there.
        double split_host_tokens = std::numeric_limits<double>::infinity();
        if (pool.offload && pool.offload->layers) {
          const SplitKvSizing split = layer_split_kv_sizing(sizing, *pool.offload, pool, sc.model);
          sizing = split.sizing;
          split_host_tokens = split.host_tokens;
        } else if (pool.offload && !pool.offload->in_gpu_memory) {
          sizing = offloaded_kv_sizing(sizing, *pool.offload, pool, sc.model);
        }
        plan.offload = pool.offload;
        if (speculation) {
          plan.speculation = speculation;
          sizing.weight_bytes += speculation->weight_bytes_per_device;
          sizing.kv_bytes_per_token += speculation->kv_bytes_per_token;
          plan.kv_bytes_per_token += speculation->kv_bytes_per_token;  // moves and swaps carry the draft's KV too
        }
        try {
          plan.kv->size(sizing);
          // A layer range split's host KV holds fewer tokens than its GPU's: the host bounds the cache.
          const double gpu_tokens = plan.kv->memory().kv / sizing.kv_bytes_per_token;
          if (split_host_tokens < gpu_tokens) {
            sizing.kv_bytes_per_token = plan.kv->memory().kv / split_host_tokens;
            plan.kv->size(sizing);
          }
        } catch (const InputError& e) {
          if (pools.size() == 1) throw;
          pool.where->fail(fmt::format("pool '{}': {}", pool.name, e.what()));
        }
        if (pool.offload && pool.offload->gpu_kv) {
          // The tokens of KV the GPU's own budget holds (usable x utilization less weights,
          // activations and the stack), filled first.
          const double gpu_kv_bytes = gpu_sizing.device_memory_bytes * plan.kv->memory().utilization - gpu_sizing.weight_bytes -
                                      gpu_sizing.activation_bytes - gpu_sizing.non_torch_bytes - gpu_sizing.graph_bytes;
          auto offload = std::make_shared<serving::OffloadPlan>(*pool.offload);
          offload->gpu_kv_tokens = std::max(0.0, gpu_kv_bytes) / sizing.kv_bytes_per_token;
          plan.offload = std::move(offload);
        }
        if (pool.semi_pd && worker.role == serving::InstanceRole::decode) {
          // The decode worker shares its prefill worker's devices (placed just before it).
          ReplicaPlan& prefill = sc.replicas.back();
          plan.node = prefill.node;
          plan.device_tiers = prefill.device_tiers;
          plan.partner = static_cast<int>(sc.replicas.size()) - 1;
          prefill.partner = static_cast<int>(sc.replicas.size());
          if (!placed.empty() && placed.back().replica + 1 == sc.replicas.size())
            placed.push_back({sc.replicas.size(), p, placed.back().slot});
        } else if (pool.span_devices_per_node > 0 || pool.data_parallel > 1) {
          if (pool.offload && pool.offload->on_platform)
            pool.where->fail_key("offload", pool.offload->policy,
                                 "link: platform is modelled for instances on one node's slots, not for instances of "
                                 "data-parallel ranks or spanning nodes");
          // Instances spanning nodes (or data-parallel ranks) are not placed on node slots: their
          // KV does not move between tiers or instances.
          if (!plan.preemption->kv_tiers().empty() || !plan.kv->kv_tiers().empty())
            pool.where->fail_key(pool.data_parallel > 1 ? "data_parallel" : "node", pool.data_parallel > 1 ? std::to_string(pool.data_parallel) : pool.node->name,
                                 "KV offload tiers and swap preemption are not modelled for instances of data-parallel "
                                 "ranks or spanning nodes; use recompute preemption and no KV tiers");
        } else if (pool.node || !plan.preemption->kv_tiers().empty() || !plan.kv->kv_tiers().empty() ||
                   (pool.offload && pool.offload->on_platform)) {
          placed.push_back({sc.replicas.size(), p, place_on_node(sc, plan, pool, p, r)});
          if (pool.offload && pool.offload->on_platform) route_offload(sc, plan, pool.where->child("offload"));
        }
        sc.replicas.push_back(std::move(plan));
      }
    }
  }
  if (sc.nodes.size() > 1 && !sc.kv_stores.empty() && !sc.fabric)
    cluster.fail_key("kv_stores", "", "KV store nodes are reached over the network; give cluster.fabric to join the nodes");
  // Routes to KV store nodes cross the cluster; within a node, the node's own topology.
  std::optional<hw::ClusterRouter> router;
  if (!sc.kv_stores.empty()) router.emplace(platform_of(sc));
  for (const Placed& at : placed)
    bind_kv_tiers(sc, sc.replicas[at.replica], pools[at.pool], at.slot, router ? &*router : nullptr);
  const config::Node router_cfg = policy_cfg.section("router");
  sc.router = Registry<policies::Router>::instance().make(router_cfg, "round_robin");
  sc.router->seed(sc.seed);
  // Real routers read scraped metrics: GIE's endpoint picker refreshes every 50 ms, AIBrix every
  // 50 ms, vLLM's production-stack router every 30 s; the default is an oracle with fresh state.
  if (router_cfg.has("refresh")) {
    sc.router_refresh = router_cfg.quantity("refresh", units::Dim::time).non_negative().value();
    // A snapshot costs an event per period: below a millisecond no scraper runs, and a long run
    // would take billions of events.
    if (sc.router_refresh > 0 && sc.router_refresh < 1e-3)
      router_cfg.fail_key("refresh", fmt::format("{:g} s", sc.router_refresh), "0 (fresh state) or at least 1 ms");
  }
  if (auto controllers = policy_cfg.maybe("controllers"))
    for (const auto& c : controllers->items()) sc.controllers.push_back(Registry<policies::Controller>::instance().make(c, ""));
  const bool split = std::any_of(sc.replicas.begin(), sc.replicas.end(), [](const ReplicaPlan& r) { return r.role != serving::InstanceRole::both; });
  if (split && sc.controllers.empty())
    cluster.fail("pools with role prefill or decode need a controller that moves sequences between them, e.g. "
                 "policies.controllers: [{impl: pd_disaggregation}]");
  if (split && std::none_of(sc.replicas.begin(), sc.replicas.end(),
                            [](const ReplicaPlan& r) { return serving::takes_arrivals(r.role); }))
    cluster.fail("every pool has role decode: no instance takes arrivals");

  const config::Node workload = root.child("workload");
  sc.workload = Registry<workload::WorkloadSource>::instance().make(workload, "", "source");
  // Reading the whole pool once checks every trace row now, so that `hetsim validate` and
  // `hetsim run` fail identically before anything runs; the run then reads it again as it goes.
  sc.totals = workload::WorkloadTotals::of(*sc.workload->open(sc.seed));
  if (sc.totals.requests == 0) workload.fail("the workload has no requests");
  sc.arrivals = workload::make_arrivals(workload, sc.workload->open(sc.seed), sc.totals, sc.seed);

  const config::Node slo = root.section("slo");
  sc.slo.ttft = optional_time(slo, "ttft");
  sc.slo.tpot = optional_time(slo, "tpot");
  sc.slo.e2e = optional_time(slo, "e2e");
  const config::Node out = root.section("output");
  // steps: windows (step_windows.csv), full (steps.csv), none; true and false, from before windows
  // existed, still mean full and none. step_detail is columns of steps.csv: asking for it makes
  // full the default.
  const bool step_detail = out.has("step_detail") && out.get<bool>("step_detail").value();
  const std::string steps = out.get<std::string>("steps")
                                .default_to(step_detail ? "full" : "windows")
                                .one_of({"windows", "full", "none", "true", "false"})
                                .value();
  sc.output.steps = steps == "windows" ? StepOutput::windows
                    : steps == "full" || steps == "true" ? StepOutput::full
                                                         : StepOutput::none;
  sc.output.step_window = out.quantity("step_window", units::Dim::time).default_to("1 s").positive().value();
  sc.output.timeline = out.get<bool>("timeline").default_to(false);
  sc.output.step_detail = out.get<bool>("step_detail").default_to(false);
  if (sc.output.step_detail && sc.output.steps != StepOutput::full)
    out.fail_key("step_detail", "true", fmt::format("needs output.steps: full (the detail is columns of steps.csv), not {}", steps));
  doc.check_unknown_keys();
  sc.resolved = doc.resolved();
  return sc;
}

/// The scale-out level collectives spanning nodes use: the node's first NIC, with the fabric's
/// latency on the way up and down.
hw::LinkLevel scale_out_of(const hw::NodeSpec& node, const std::optional<hw::Fabric>& fabric, const hw::Device& d) {
  hw::LinkLevel level;
  if (node.nics.empty()) return level;
  const hw::Efficiency& e = d.eff(OpClass::collective);
  level.bandwidth = node.nics.front().bandwidth;
  level.latency = 2 * node.nics.front().latency + (fabric ? 2 * fabric->latency : 0);
  level.efficiency = e.memory;
  level.half_bytes = e.memory_half;
  return level;
}

}  // namespace hetsim::sim
