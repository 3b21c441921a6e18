#include "sim/scenario/offload_config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "sim/core/registry.hpp"
#include "sim/scenario/scenario.hpp"

namespace hetsim::sim {

using serving::OffloadPipelining;
using serving::OffloadPlan;

namespace {

/// The keys every policy takes (besides impl).
constexpr const char* kOffloadKeys[] = {"device", "count", "ops", "link", "pipelining", "sub_batches", "kv_memory",
                                        "sparse_attention", "gpu_kv", "experts",
                                        // impl layers
                                        "gpu_layers", "output_on_gpu", "stream_at", "host_experts",
                                        // link: platform
                                        "tier"};

/// The layer range split (impl layers): how many decoder layers the GPU runs, where the output layer
/// runs, from how many tokens a step streams the host layers' weights to the GPU. Its keys are
/// refused with other policies, and the other policies' op-class keys with it.
void parse_layer_split(const config::Node& cfg, const policies::OpOffload::Defaults& d, const models::ModelSpec& model, int tp,
                       OffloadPlan& plan) {
  if (!d.by_layer) {
    for (const char* k : {"gpu_layers", "output_on_gpu", "stream_at", "host_experts"})
      if (cfg.has(k))
        cfg.fail_key(k, cfg.child(k).shown(), fmt::format("'{}' places layers by range: it goes with impl layers, not {}", k,
                                                          plan.policy));
    return;
  }
  // The other policies' keys, where they ask for something else than the defaults (a resolved
  // scenario writes those back).
  const bool any_class = std::any_of(plan.classes.begin(), plan.classes.end(), [](bool on) { return on; });
  const std::pair<const char*, bool> others[] = {{"ops", any_class},
                                                 {"pipelining", plan.pipelining != serving::OffloadPipelining::none},
                                                 {"sparse_attention", cfg.has("sparse_attention")},
                                                 {"gpu_kv", plan.gpu_kv},
                                                 {"count", plan.count != 1}};
  for (const auto& [k, set] : others)
    if (set)
      cfg.fail_key(k, cfg.child(k).shown(),
                   fmt::format("offload layers places whole layers (gpu_layers), run one side after the other on one host "
                               "device; remove '{}'", k));
  const int L = static_cast<int>(model.num_hidden_layers);
  if (tp != 1)
    cfg.fail_key("impl", plan.policy,
                 fmt::format("a layer range split runs on one GPU (tensor_parallel 1), not {}; llama.cpp's split over several "
                             "GPUs is not modelled", tp));
  serving::LayerSplit split;
  split.total_layers = L;
  split.gpu_layers = cfg.get<int>("gpu_layers").required().in_range(0, L).value();
  // llama.cpp puts the output layer on the GPU only once every repeating layer is there (-ngl above
  // the layer count, as -ngl 99 does).
  split.output_on_gpu = cfg.get<bool>("output_on_gpu").default_to(split.gpu_layers == L).value();
  split.dense_layers = model.moe.enabled() ? static_cast<int>(model.moe.dense_layers) : L;
  // llama.cpp's --n-cpu-moe N: the routed experts of the first N layers stay in host memory and run there.
  split.host_expert_layers = cfg.get<int>("host_experts").default_to(0).in_range(0, L).value();
  if (split.host_expert_layers > 0 && !model.moe.enabled())
    cfg.fail_key("host_experts", std::to_string(split.host_expert_layers),
                 fmt::format("{} has no routed experts; host_experts places an MoE model's experts", model.name));
  // 32: ggml-cuda's offload_op minimum batch for running a host-weight op on the GPU; auto: each
  // step the faster (StepPricer::price_layer_split).
  const std::string stream_at = cfg.get<std::string>("stream_at").default_to("32").value();
  if (stream_at == "auto") {
    split.stream_by_cost = true;
  } else if (!config::detail::convert(stream_at, split.stream_at) || split.stream_at < 0 || split.stream_at > (std::int64_t{1} << 30)) {
    cfg.fail_key("stream_at", stream_at,
                 "expected the fewest tokens of a step that streams host weights to the GPU (a whole number, 0 = never) or "
                 "auto (each step whichever is faster)");
  }
  const bool host_runs = split.gpu_layers < L || split.host_expert_layers > 0;
  for (OpClass c : {OpClass::gemm, OpClass::attention_prefill, OpClass::attention_decode, OpClass::elementwise})
    if (host_runs && !plan.device->can_run(c))
      cfg.fail_key("device", plan.device->name, fmt::format("the host side runs whole layers; {} ({}) cannot run {} ops",
                                                            plan.device->name, plan.device->kind_name, to_string(c)));
  for (DType dt : {model.precision.gemm, model.precision.activations})
    if (host_runs && plan.device->peak(dt) <= 0)
      cfg.fail_key("device", plan.device->name,
                   fmt::format("{} computes in {} (model.precision), which host device {} has no peak for", model.name,
                               to_string(dt), plan.device->name));
  plan.layers = split;
}

/// Where an MoE model's routed experts run (key `experts`): only PIM in the GPUs' own memory, where
/// the experts' weights are, can run them, and it must run their GEMMs in the model's dtype.
void parse_experts(const config::Node& cfg, const policies::OpOffload::Defaults& d, const models::ModelSpec& model, OffloadPlan& plan) {
  const bool given = cfg.has("experts");
  const std::string on = cfg.get<std::string>("experts").default_to(model.moe.enabled() ? d.experts : "gpu")
                             .one_of({"gpu", "decode", "co_process"}).value();
  if (on == "gpu") return;
  const auto fail = [&](const std::string& why) {
    if (given) cfg.fail_key("experts", on, why);
    cfg.fail_key("impl", plan.policy, why);
  };
  if (!model.moe.enabled()) fail(fmt::format("{} has no routed experts", model.name));
  if (!plan.in_gpu_memory)
    fail(fmt::format("the experts' weights stay in the GPUs' memory; only PIM in that memory (offload impl duplex) runs them, "
                     "not {}", plan.device->name));
  if (plan.pipelining != serving::OffloadPipelining::none)
    fail("co-processed or offloaded experts are modelled without sub-batch pipelining (pipelining: none)");
  for (OpClass c : {OpClass::gemm, OpClass::elementwise})
    if (!plan.device->can_run(c))
      fail(fmt::format("offload device {} ({}) cannot run the experts' {} ops", plan.device->name, plan.device->kind_name,
                       to_string(c)));
  if (plan.device->peak(model.precision.gemm) <= 0)
    fail(fmt::format("{}'s expert GEMMs compute in {} (model.precision), which offload device {} has no peak for", model.name,
                     to_string(model.precision.gemm), plan.device->name));
  plan.experts = on == "decode" ? serving::ExpertsOn::offload_in_decode : serving::ExpertsOn::co_process;
}

}  // namespace

std::shared_ptr<const OffloadPlan> parse_offload(const config::Node& pool, const models::ModelSpec& model, const hw::Device& gpu,
                                                 int tp) {
  const auto cfg = pool.maybe("offload");
  if (!cfg) return nullptr;
  // impl: none switches offload off (a sweep axis can then compare with and without).
  if (cfg->has("impl") && cfg->child("impl").is_scalar() && cfg->child("impl").scalar() == "none") {
    for (const char* k : kOffloadKeys) (void)cfg->has(k);  // read, so that they stay valid keys when switched off
    return nullptr;
  }
  const auto policy = Registry<policies::OpOffload>::instance().make(*cfg, "");
  const policies::OpOffload::Defaults d = policy->defaults();
  auto plan = std::make_shared<OffloadPlan>();
  plan->policy = cfg->get<std::string>("impl").value();
  if (model.mla.enabled())
    cfg->fail_key("impl", plan->policy,
                  fmt::format("{} uses MLA attention, whose offload (latent KV, absorbed projections) is not modelled", model.name));
  // The offload device: the policy's default catalog entry, or the scenario's (a name or a map with overrides).
  const auto fallback = config::Document::load_string(fmt::format("device: {}\n", d.device), "offload.device (policy default)");
  plan->device = load_device(cfg->has("device") ? *cfg : fallback.root());
  plan->count = cfg->get<int>("count").default_to(d.count).in_range(1, 4096);
  // PIM in the GPUs' memory comes with each GPU: count is per GPU there.
  plan->in_gpu_memory = d.in_gpu_memory;
  if (plan->in_gpu_memory) plan->count *= tp;
  // Op classes placed on the offload device: attention only (its cost follows the contexts, which is
  // what the offload side holds), or none (the KV is only stored there and the GPUs' attention reads
  // it back each step); each must be one the device runs, in a dtype it has.
  std::vector<std::string> ops;
  for (OpClass c : d.ops) ops.emplace_back(to_string(c));
  if (cfg->has("ops")) {
    ops.clear();
    for (const auto& item : cfg->child("ops").items()) {
      const std::string c = item.is_scalar() ? item.scalar() : item.shown();
      if (c != "attention_decode" && c != "attention_prefill")
        item.fail(fmt::format("'{}': expected an op class the offload side can take: attention_decode or attention_prefill "
                              "(their cost follows the contexts it holds), or an empty list (KV only)",
                              c));
      ops.push_back(c);
    }
  }
  const DType act = model.precision.activations;
  for (const std::string& name : ops) {
    const OpClass c = name == "attention_prefill" ? OpClass::attention_prefill : OpClass::attention_decode;
    if (!plan->device->can_run(c))
      cfg->fail_key("ops", name, fmt::format("offload device {} ({}) cannot run {} ops", plan->device->name,
                                              plan->device->kind_name, name));
    if (plan->device->peak(act) <= 0)
      cfg->fail_key("device", plan->device->name,
                    fmt::format("{}'s attention computes in {} (model.precision.activations), which offload device {} has no "
                                "peak for",
                                model.name, to_string(act), plan->device->name));
    plan->classes[static_cast<std::size_t>(c)] = true;
  }
  // The link each GPU of the instance reaches the offload side over (none for PIM in its own memory).
  if (plan->in_gpu_memory) {
    for (const char* k : {"link", "kv_memory"})
      if (cfg->has(k))
        cfg->fail_key(k, cfg->child(k).shown(), fmt::format("offload {} computes in the GPUs' own memory, where the KV cache "
                                                            "stays and nothing crosses a link: remove '{}'", plan->policy, k));
    plan->link = plan->device->host;
    plan->link_source = "none: the PIM computes in the GPUs' own memory";
  } else {
    const std::string link = d.link;
    if (cfg->has("link") && cfg->child("link").is_scalar() && cfg->child("link").scalar() == "platform") {
      // The route is known once the replica is placed on its node (sim/scenario/scenario.cpp).
      if (d.platform_tier.empty())
        cfg->fail_key("link", "platform",
                      fmt::format("offload {} runs on {}, which is not a tier of a node; 'platform' routes the traffic "
                                  "of offload sides in the node's host (impl neo, layers) or drives (flexgen, instinfer). "
                                  "Give a link spec ({{bandwidth: ..., latency: ...}}) instead",
                                  plan->policy, plan->device->name));
      plan->on_platform = true;
      plan->platform_tier = cfg->get<std::string>("tier").default_to(d.platform_tier).value();
      // A drive is one tier: the instance's attention (or KV) on one of them.
      if (d.platform_tier != "dram" && plan->count != 1)
        cfg->fail_key("count", std::to_string(plan->count),
                      fmt::format("1 with link: platform: each instance uses one {} tier of its node (the nearest, or "
                                  "offload.tier)",
                                  d.platform_tier));
      plan->link = gpu.host;
      plan->link_source = "platform";
    } else if (cfg->has("link")) {
      if (cfg->child("link").is_scalar())
        cfg->fail_key("link", cfg->child("link").scalar(),
                      "expected 'platform' (flows on the node's routes) or a link {bandwidth: ..., latency: ...}");
      plan->link = hw::parse_link(cfg->child("link"), "network");
      plan->link_source = "offload.link";
    } else if (link == "gpu_host") {
      plan->link = gpu.host;
      plan->link_source = fmt::format("{}'s host link ({})", gpu.name, gpu.host.kind);
    } else if (link == "offload_host") {
      plan->link = plan->device->host;
      plan->link_source = fmt::format("{}'s host link ({})", plan->device->name, plan->device->host.kind);
    } else {
      // A ConnectX-7 NIC per GPU, 400 Gb/s, as hw/nodes/hgx-h100.yaml (DGX H100 user guide, Table 6), its 1 us
      // latency there plus one switch hop of the same (assumption, not a vendor figure).
      plan->link = {"nic", 400e9 / 8, 2e-6};
      plan->link_source = "a 400 Gb/s NIC per GPU (hgx-h100 node)";
    }
    if (cfg->has("tier") && !plan->on_platform)
      cfg->fail_key("tier", cfg->child("tier").shown(), "a node tier for the offload side only with link: platform");
    if (d.link_per_offload_device && !cfg->has("link")) {
      const double links = static_cast<double>(plan->count) / tp;
      plan->link.bandwidth *= links;
      plan->link_source += fmt::format(" x {:g} (one per offload device, shared by the {} GPUs)", links, tp);
    }
    if (plan->link.bandwidth <= 0)
      cfg->fail_key("link", link, fmt::format("expected a link with a bandwidth; {} has none", plan->link_source));
  }
  const std::string pipelining =
      cfg->get<std::string>("pipelining").default_to(d.pipelined ? "ping_pong" : "none").one_of({"none", "ping_pong"}).value();
  plan->pipelining = pipelining == "ping_pong" ? OffloadPipelining::ping_pong : OffloadPipelining::none;
  plan->sub_batches = cfg->get<int>("sub_batches").default_to(2).in_range(2, 16);
  // KV memory on the offload side: the devices' memory unless the policy or scenario says how much.
  const double per_device = d.kv_memory_per_device > 0 ? d.kv_memory_per_device : plan->device->usable_memory;
  plan->kv_memory = cfg->has("kv_memory") ? cfg->quantity("kv_memory", units::Dim::bytes).positive().value()
                                          : per_device * plan->count;
  plan->cost_per_hour = plan->device->cost_per_hour * plan->count;
  // NEO keeps what KV the GPU's own memory holds there (filled first) and attends to it on the GPU.
  plan->gpu_kv = cfg->get<bool>("gpu_kv").default_to(d.gpu_kv);
  if (plan->gpu_kv && plan->in_gpu_memory)
    cfg->fail_key("gpu_kv", "true", fmt::format("offload {} keeps all of the KV cache in the GPUs' own memory already", plan->policy));
  if (plan->gpu_kv && !plan->offloads(OpClass::attention_decode))
    cfg->fail_key("gpu_kv", "true", "it splits decode attention between the GPUs and the offload side: ops must include attention_decode");
  // Sparse decode attention (InstInfer's SparF, after SparQ): per step it reads `kv_read` of the KV it
  // attends to and computes `compute` of the dense FLOPs, on whichever side runs it (the quality
  // cost is not modelled). No default: SparF's 1/8 compression reads more than 1/8 of the flash
  // pages (whole 4 KB pages of 16 tokens), and the paper gives no read fraction.
  if (const auto sparse = cfg->maybe("sparse_attention")) {
    plan->kv_read_fraction = sparse->get<double>("kv_read").required().in_range(1e-3, 1.0);
    plan->attention_compute_fraction = sparse->get<double>("compute").default_to(plan->kv_read_fraction).in_range(1e-3, 1.0);
  }
  parse_experts(*cfg, d, model, *plan);
  parse_layer_split(*cfg, d, model, tp, *plan);
  return plan;
}

}  // namespace hetsim::sim
