#include "hw/serving_stack.hpp"

#include <fmt/format.h>

namespace hetsim::hw {
namespace {

Efficiency parse_curve(const config::Node& node, bool compute) {
  Efficiency e;
  if (compute) {
    e.compute = node.get<double>("e_max").in_range(1e-4, 1.0);
    // FLOPs per kernel, or per (sequence, head) of the kernel (how FlashAttention's speed scales).
    if (node.has("s_half_per_sequence_head")) {
      if (node.has("s_half")) node.fail("give s_half (FLOPs per kernel) or s_half_per_sequence_head, not both");
      e.compute_half = node.get<double>("s_half_per_sequence_head").at_least(0.0);
      e.half_per_unit = true;
    } else {
      e.compute_half = node.get<double>("s_half").default_to(0.0).at_least(0.0);
    }
  } else {
    e.memory = node.get<double>("e_max").in_range(1e-4, 1.0);
    e.memory_half = node.quantity("s_half", units::Dim::bytes).default_to("0 B").non_negative();
  }
  return e;
}

}  // namespace

ServingStack parse_serving_stack(const config::Node& node) {
  ServingStack s;
  s.name = node.get<std::string>("name").default_to("custom");
  s.description = node.get<std::string>("description").default_to("");
  s.step_overhead = node.quantity("step_overhead", units::Dim::time).default_to("0 s").non_negative();
  s.per_sequence = node.quantity("per_sequence", units::Dim::time).default_to("0 s").non_negative();
  s.per_prefill_token = node.quantity("per_prefill_token", units::Dim::time).default_to("0 s").non_negative();
  s.launch = node.quantity("launch", units::Dim::time).default_to("0 s").non_negative();
  s.overlap_host = node.get<bool>("overlap_host").default_to(false);
  if (auto graphs = node.maybe("cuda_graphs")) {
    s.cuda_graphs = true;
    s.graph_max_tokens = graphs->get<std::int64_t>("max_tokens").default_to(512).in_range(1, 1 << 24);
    s.graph_decode_only = graphs->get<std::string>("steps").default_to("decode").one_of({"decode", "all"}).value() == "decode";
  }
  if (auto attention = node.maybe("attention")) {
    s.attention_kernels = attention->get<std::string>("kernels").default_to("");
    // Prefill attention is compute-bound (FLOPs, fitted like a GEMM); paged decode attention
    // streams the KV cache (bytes).
    if (auto prefill = attention->maybe("prefill")) s.attention_prefill = parse_curve(*prefill, true);
    if (auto decode = attention->maybe("decode")) s.attention_decode = parse_curve(*decode, false);
    if (auto devices = attention->maybe("devices"))
      for (const std::string& name : devices->keys()) {
        const config::Node d = devices->child(name);
        ServingStack::DeviceAttention& a = s.attention_by_device[name];
        if (auto prefill = d.maybe("prefill")) a.prefill = parse_curve(*prefill, true);
        if (auto decode = d.maybe("decode")) a.decode = parse_curve(*decode, false);
      }
  }
  if (s.cuda_graphs) s.graph_pool = node.child("cuda_graphs").quantity("pool", units::Dim::bytes).default_to("0 B").non_negative();
  const config::Node memory = node.section("memory");
  if (auto non_torch = memory.maybe("non_torch")) {
    // One size for every degree, or a size per tensor-parallel degree: {1: 0.13 GiB, 2: 0.55 GiB}.
    if (non_torch->is_map()) {
      for (const std::string& key : non_torch->keys()) {
        int tp = 0;
        if (!config::detail::convert(key, tp) || tp < 1 || tp > 1024)
          non_torch->fail_key(key, key, "expected a tensor-parallel degree (an integer in [1, 1024]) as key");
        s.non_torch[tp] = non_torch->quantity(key, units::Dim::bytes).non_negative();
      }
      if (!s.non_torch.contains(1)) non_torch->fail("expected a size for tensor-parallel degree 1 (key 1)");
    } else {
      s.non_torch[1] = memory.quantity("non_torch", units::Dim::bytes).non_negative();
    }
  }
  s.sampler_bytes_per_logit = memory.get<double>("sampler_bytes_per_logit").default_to(4.0).in_range(0.0, 1024.0);
  return s;
}

double ServingStack::non_torch_for(int tp) const {
  auto it = non_torch.upper_bound(tp);  // first degree above tp; the one before it applies
  return it == non_torch.begin() ? 0.0 : std::prev(it)->second;
}

Device ServingStack::apply(const Device& device) const {
  Device d = device;
  auto replace = [&](OpClass c, const std::optional<Efficiency>& curve, bool compute, const char* where) {
    if (!curve) return;
    Efficiency& e = d.efficiency[static_cast<std::size_t>(c)];
    if (compute) e.compute = curve->compute, e.compute_half = curve->compute_half, e.half_per_unit = curve->half_per_unit;
    else e.memory = curve->memory, e.memory_half = curve->memory_half;
    e.blend = 0;
    e.source = fmt::format("serving stack {} ({}{})", name, attention_kernels, where);
  };
  // Curves measured on this device win over the stack's generic ones.
  const auto own = attention_by_device.find(device.name);
  const DeviceAttention* here = own == attention_by_device.end() ? nullptr : &own->second;
  if (here && here->prefill) replace(OpClass::attention_prefill, here->prefill, true, ", measured on this device");
  else replace(OpClass::attention_prefill, attention_prefill, true, "");
  if (here && here->decode) replace(OpClass::attention_decode, here->decode, false, ", measured on this device");
  else replace(OpClass::attention_decode, attention_decode, false, "");
  return d;
}

}  // namespace hetsim::hw
