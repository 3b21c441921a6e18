#include "models/precision.hpp"

#include <array>
#include <utility>

namespace hetsim::models {
namespace {

/// Storage formats a model's data can be kept in; GEMM math may also be tf32 (fp32 storage).
constexpr std::array kStorage{DType::bf16, DType::fp16, DType::fp32, DType::fp8, DType::int8};
constexpr std::array kMath{DType::bf16, DType::fp16, DType::fp32, DType::tf32, DType::fp8, DType::int8};

bool is_8bit(DType d) { return bytes_per_element(d) == 1; }

template <std::size_t N>
std::string names(const std::array<DType, N>& list) {
  std::string out;
  for (DType d : list) out += fmt::format("{}{}", out.empty() ? "" : ", ", to_string(d));
  return out;
}

/// `text` as one of `valid` (canonical names or HF spellings such as "bfloat16"); an error naming
/// `node.key` otherwise.
template <std::size_t N>
DType parse_one(const config::Node& node, std::string_view key, const std::string& text,
                const std::array<DType, N>& valid, std::string_view extra = "") {
  const auto d = parse_dtype(text);
  for (DType v : valid)
    if (d && *d == v) return v;
  node.fail_key(key, text, fmt::format("expected one of {}{}", names(valid), extra));
}

/// The five kinds with their scenario key names, in the order they are documented and recorded.
constexpr std::array<std::pair<std::string_view, DType Precision::*>, 5> kKinds{
    {{"weights", &Precision::weights},
     {"gemm", &Precision::gemm},
     {"activations", &Precision::activations},
     {"kv", &Precision::kv},
     {"comm", &Precision::comm}}};

/// The short form `precision: D` over `p`. A 16/32-bit dtype runs everything in it (vLLM
/// --dtype); an 8-bit one quantizes the linear layers' weights and GEMMs and keeps the rest
/// (vLLM --quantization fp8).
void apply_short_form(Precision& p, DType d) {
  if (is_8bit(d)) {
    p.weights = d;
    p.gemm = d;
  } else {
    p = Precision::all(d);
  }
}

/// The grouped-quantization keys kv_quant and weight_quant share: bits, group_size, group_bytes.
void read_groups(const config::Node& q, int default_group, int& bits, int& group_size, double& group_bytes) {
  bits = q.get<int>("bits").in_range(1, 8);
  group_size = q.get<int>("group_size").default_to(default_group).in_range(1, 1 << 20);
  group_bytes = q.get<double>("group_bytes").default_to(4.0).in_range(0.0, 1024.0);
}
YAML::Node groups_yaml(int bits, int group_size, double group_bytes) {
  YAML::Node q(YAML::NodeType::Map);
  q["bits"] = bits;
  q["group_size"] = group_size;
  q["group_bytes"] = group_bytes;
  return q;
}

}  // namespace

std::string Precision::describe() const {
  std::string out;
  for (const auto& [key, member] : kKinds)
    out += fmt::format("{}{} {}", out.empty() ? "" : ", ", key, to_string(this->*member));
  if (kv_quant.bits > 0)
    out += fmt::format(", kv quantized to {} bits in groups of {}", kv_quant.bits, kv_quant.group_size);
  if (weight_quant.bits > 0)
    out += fmt::format(", weights quantized to {} bits in groups of {}{}", weight_quant.bits, weight_quant.group_size,
                       !weight_quant.lm_head        ? ""
                       : weight_quant.head_bits > 0 ? fmt::format(" (lm_head to {} bits in groups of {})", weight_quant.head_bits,
                                                                  weight_quant.head_group_size)
                                                    : " (lm_head too)");
  return out;
}

Precision default_precision(DType torch_dtype) {
  // An 8-bit checkpoint runs as vLLM runs an FP8 (or INT8 W8A8) checkpoint: 8-bit weights and
  // GEMMs, activations, attention, KV cache and all-reduces in bf16 unless --kv-cache-dtype says
  // otherwise. vLLM docs, quantization/fp8 ("FP8 W8A8", docs.vllm.ai/en/stable/features/quantization/fp8/):
  // "2x reduction in model memory requirements and up to a 1.6x improvement in throughput"; "all
  // Linear modules (except for the final lm_head) have their weights quantized" (v0.5.4 edition),
  // and the KV cache stays in the model dtype unless --kv-cache-dtype fp8 is given.
  if (is_8bit(torch_dtype)) return {torch_dtype, torch_dtype, DType::bf16, DType::bf16, DType::bf16, {}, {}};
  // A 16- or 32-bit checkpoint runs in its own dtype throughout (the behaviour before precision existed).
  return Precision::all(torch_dtype);
}

Precision parse_precision(const config::Node& model, DType torch_dtype) {
  Precision p = default_precision(torch_dtype);
  const auto given = model.maybe("precision");
  const std::string forms = " (or a map with keys preset, weights, gemm, activations, kv, comm, kv_quant, weight_quant)";
  if (given) {
    if (given->is_map()) {
      // Map form: an optional short form as its base (`preset`, which is also what `--set
      // model.precision.kv=fp8` makes of a short form), then each kind on its own; the kinds left
      // out keep the checkpoint's defaults.
      if (given->has("preset"))
        apply_short_form(p, parse_one(*given, "preset", given->get<std::string>("preset").required(), kStorage));
      for (const auto& [key, member] : kKinds) {
        if (!given->has(key)) continue;
        const std::string text = given->get<std::string>(key).required();
        p.*member = key == "gemm" ? parse_one(*given, key, text, kMath) : parse_one(*given, key, text, kStorage);
      }
      if (given->has("kv_quant")) {
        const config::Node q = given->child("kv_quant");
        read_groups(q, 32, p.kv_quant.bits, p.kv_quant.group_size, p.kv_quant.group_bytes);
        p.kv_quant.dequant_flops = q.get<double>("dequant_flops").default_to(2.0).in_range(0.0, 1e6);
      }
      if (given->has("weight_quant")) {
        const config::Node q = given->child("weight_quant");
        read_groups(q, 128, p.weight_quant.bits, p.weight_quant.group_size, p.weight_quant.group_bytes);
        if (q.has("lm_head") && q.child("lm_head").is_map()) {
          read_groups(q.child("lm_head"), 256, p.weight_quant.head_bits, p.weight_quant.head_group_size,
                      p.weight_quant.head_group_bytes);
          p.weight_quant.lm_head = true;
        } else {
          p.weight_quant.lm_head = q.get<bool>("lm_head").default_to(false);
        }
      }
    } else if (given->is_scalar()) {
      const std::string text = model.get<std::string>("precision").required();
      apply_short_form(p, parse_one(model, "precision", text, kStorage, forms));
    } else {
      model.fail_key("precision", given->shown(),
                     fmt::format("expected a dtype ({}){}", names(kStorage), forms));
    }
  }
  // The resolved scenario shows all five whenever they matter: given, or mixed by default (an
  // 8-bit checkpoint). A 16-bit model without the key resolves exactly as before.
  if (given || !p.uniform()) {
    YAML::Node resolved(YAML::NodeType::Map);
    for (const auto& [key, member] : kKinds) resolved[std::string(key)] = std::string(to_string(p.*member));
    if (p.kv_quant.bits > 0) {
      YAML::Node q = groups_yaml(p.kv_quant.bits, p.kv_quant.group_size, p.kv_quant.group_bytes);
      q["dequant_flops"] = p.kv_quant.dequant_flops;
      resolved["kv_quant"] = q;
    }
    if (p.weight_quant.bits > 0) {
      YAML::Node q = groups_yaml(p.weight_quant.bits, p.weight_quant.group_size, p.weight_quant.group_bytes);
      if (p.weight_quant.head_bits > 0)
        q["lm_head"] = groups_yaml(p.weight_quant.head_bits, p.weight_quant.head_group_size, p.weight_quant.head_group_bytes);
      else
        q["lm_head"] = p.weight_quant.lm_head;
      resolved["weight_quant"] = q;
    }
    model.resolved()["precision"] = resolved;
  }
  return p;
}

}  // namespace hetsim::models
