#include "models/model.hpp"

#include "models/graph_builder.hpp"
#include "sim/core/catalog.hpp"

#include <algorithm>


namespace hetsim::models {

namespace {
/// One layer's attention parameters: its linear matrices, and those with biases and norms.
struct AttentionParameters {
  std::int64_t linear = 0, all = 0;
};
AttentionParameters attention_parameters(const ModelSpec& m) {
  const std::int64_t h = m.hidden_size;
  const std::int64_t q = m.num_attention_heads * m.head_dim;
  const std::int64_t kv = m.num_key_value_heads * m.head_dim;
  AttentionParameters a;
  if (m.mla.enabled()) {
    a.linear = m.mla.linear_parameters(h, m.num_attention_heads);
    a.all = m.mla.parameters(h, m.num_attention_heads);
  } else {
    a.linear = h * q + 2 * h * kv + q * h;  // q, k, v, o projections
    a.all = a.linear + (m.qkv_bias ? q + 2 * kv : 0) + (m.o_bias ? h : 0);
  }
  if (m.qk_norm) a.all += 2 * m.head_dim;  // Qwen3: one RMSNorm over head_dim each for q and k
  return a;
}
}  // namespace

std::vector<ModelSpec::LayerKind> ModelSpec::layer_kinds() const {
  const std::int64_t h = hidden_size;
  const AttentionParameters attn = attention_parameters(*this);
  const std::int64_t norms = 2 * norm_parameters();  // input and post-attention norms
  // gate, up, down (SwiGLU) or fc1, fc2 (GPT-2's c_fc, c_proj), with fc1's and fc2's biases if any
  const std::int64_t dense_linear = mlp_matrices() * h * intermediate_size;
  const std::int64_t dense_mlp =
      dense_linear + (mlp_bias ? (gated_mlp ? 2 * intermediate_size : intermediate_size) + h : 0);
  std::vector<LayerKind> kinds;
  const std::int64_t dense_layers = moe.enabled() ? moe.dense_layers : num_hidden_layers;
  if (dense_layers > 0) {
    const std::int64_t p = attn.all + dense_mlp + norms;
    kinds.push_back({dense_layers, p, attn.linear + dense_linear, p});
  }
  if (moe.enabled())
    kinds.push_back({moe.moe_layers(num_hidden_layers), attn.all + moe.mlp_parameters(h, false) + norms,
                     attn.linear + moe.linear_parameters(h), attn.all + moe.mlp_parameters(h, true) + norms});
  return kinds;
}

namespace {
/// Parameters outside the decoder layers: embedding, LM head, learned positions, final norm.
std::int64_t outside_layers(const ModelSpec& m) {
  const std::int64_t embed = m.vocab_size * m.hidden_size;
  const std::int64_t head = m.tie_word_embeddings ? 0 : m.vocab_size * m.hidden_size;
  const std::int64_t positions = m.learned_positions ? m.max_position_embeddings * m.hidden_size : 0;  // GPT-2's wpe
  return embed + head + positions + m.norm_parameters() /* final norm */;
}
/// Bytes of one layer of `kind` as stored.
double kind_weight_bytes(const ModelSpec& m, const ModelSpec::LayerKind& kind) {
  // Exact for a uniform precision: integer counts times a power-of-two byte size.
  return static_cast<double>(kind.linear_parameters) * m.precision.weight_bytes_per_element() +
         static_cast<double>(kind.parameters - kind.linear_parameters) * bytes_per_element(m.precision.activations);
}
}  // namespace

std::int64_t ModelSpec::parameters() const {
  std::int64_t decoder = 0;
  for (const LayerKind& k : layer_kinds()) decoder += k.count * k.parameters;
  return outside_layers(*this) + decoder;
}

std::int64_t ModelSpec::active_parameters() const {
  std::int64_t decoder = 0;
  for (const LayerKind& k : layer_kinds()) decoder += k.count * k.active_parameters;
  return outside_layers(*this) + decoder;
}

std::int64_t ModelSpec::layer_parameters() const {
  std::int64_t decoder = 0;
  for (const LayerKind& k : layer_kinds()) decoder += k.count * k.parameters;
  return decoder / num_hidden_layers;
}

std::int64_t ModelSpec::layer_linear_parameters() const {
  std::int64_t linear = 0;
  for (const LayerKind& k : layer_kinds()) linear += k.count * k.linear_parameters;
  return linear / num_hidden_layers;
}

double ModelSpec::layer_weight_bytes() const {
  const auto kinds = layer_kinds();
  if (kinds.size() == 1) return kind_weight_bytes(*this, kinds.front());
  double bytes = 0;
  for (const LayerKind& k : kinds) bytes += static_cast<double>(k.count) * kind_weight_bytes(*this, k);
  return bytes / static_cast<double>(num_hidden_layers);
}

double ModelSpec::layers_weight_bytes(std::int64_t first, std::int64_t count) const {
  double bytes = 0;
  std::int64_t at = 0;  // the first layer of the kind
  for (const LayerKind& k : layer_kinds()) {
    const std::int64_t from = std::max(first, at), to = std::min(first + count, at + k.count);
    if (to > from) bytes += static_cast<double>(to - from) * kind_weight_bytes(*this, k);
    at += k.count;
  }
  return bytes;
}

double ModelSpec::weight_bytes() const {
  double decoder = 0;
  for (const LayerKind& k : layer_kinds()) decoder += static_cast<double>(k.count) * kind_weight_bytes(*this, k);
  const double outside = static_cast<double>(outside_layers(*this)) * bytes_per_element(precision.activations);
  if (!precision.quantizes_lm_head() || tie_word_embeddings) return decoder + outside;
  // The head's share of the outside parameters, at its quantized size instead.
  const double head = static_cast<double>(vocab_size * hidden_size);
  return decoder + outside - head * (bytes_per_element(precision.activations) - lm_head_bytes_per_element());
}

double ModelSpec::mlp_activation_width(int tp) const {
  // Gated: gate+up output, then the SiLU-mul product (3 widths); GPT-style: fc1 output, then GELU's (2).
  const double dense = (gated_mlp ? 3.0 : 2.0) * static_cast<double>(intermediate_size) / tp;
  if (!moe.enabled()) return dense;
  // Each token's k routed experts and the shared ones, each of them gated.
  const double routed = 3.0 * static_cast<double>(moe.experts_per_token * moe.intermediate +
                                                  moe.shared_experts * moe.shared_intermediate) / tp;
  return moe.dense_layers > 0 ? std::max(dense, routed) : routed;
}

std::int64_t ModelSpec::kv_heads_per_device(int tp) const { return std::max<std::int64_t>(1, num_key_value_heads / tp); }

double ModelSpec::weight_bytes_per_device(int tp, int expert_ranks) const {
  // Quantization (vLLM --quantization fp8) stores the linear layers' matrices in precision.weights;
  // biases, norms, the embedding, the LM head and MoE routers stay unquantized, in precision.activations.
  const double bw = precision.weight_bytes_per_element();
  const double ba = bytes_per_element(precision.activations);
  const double norms = static_cast<double>(2 * norm_parameters() * num_hidden_layers + norm_parameters());
  // Linear layers and the vocab-parallel embedding/head split over tp; KV projections are replicated
  // when tp exceeds the KV heads; norms and learned position embeddings are replicated (Megatron's
  // position embedding is not vocab-parallel).
  const double q = static_cast<double>(num_attention_heads * head_dim);
  const double kv = static_cast<double>(kv_heads_per_device(tp) * head_dim);
  const double h = static_cast<double>(hidden_size);
  const double inter = static_cast<double>(intermediate_size);
  double attention = (h * q + q * h) / tp + 2 * h * kv;
  if (mla.enabled()) {
    // vLLM's DeepseekV2MLAAttention: the down-projections to the query and KV latents are
    // replicated (every rank needs the whole latent); q_b, kv_b and o split by heads.
    const double heads = static_cast<double>(num_attention_heads);
    const double ql = static_cast<double>(mla.q_lora_rank), kvl = static_cast<double>(mla.kv_lora_rank);
    const double q_proj = mla.q_lora_rank > 0 ? h * ql + ql * heads * static_cast<double>(mla.qk_head_dim()) / tp
                                              : h * heads * static_cast<double>(mla.qk_head_dim()) / tp;
    attention = q_proj + h * static_cast<double>(mla.cached_elements()) +
                kvl * heads * static_cast<double>(mla.qk_nope_head_dim + mla.v_head_dim) / tp +
                heads * static_cast<double>(mla.v_head_dim) * h / tp;
  }
  // Per layer, summed over the layer kinds: linear matrices and unquantized extras.
  double linear_layers = 0, extras_layers = 0;
  double extras = 0;  // per layer: biases, the MLA latent norms, Qwen3's q/k norms
  if (qkv_bias) extras += q / tp + 2 * kv;
  if (o_bias) extras += h;
  if (mlp_bias) extras += (gated_mlp ? 2 * inter : inter) / tp + h;  // fc1's split (column-parallel), fc2's not
  if (mla.enabled()) extras += static_cast<double>(mla.q_lora_rank + mla.kv_lora_rank);
  if (qk_norm) extras += 2.0 * static_cast<double>(head_dim);
  const std::vector<LayerKind> kinds = layer_kinds();
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    const LayerKind& k = kinds[i];
    const bool sparse = moe.enabled() && i + 1 == kinds.size();  // MoE layers come last
    const double count = static_cast<double>(k.count);
    if (!sparse) {
      linear_layers += count * (attention + static_cast<double>(mlp_matrices()) * h * inter / tp);
      extras_layers += count * extras;
      continue;
    }
    // vLLM's FusedMoE under tensor parallelism splits every expert's intermediate over the ranks;
    // the router (gate) is a replicated, unquantized linear layer.
    const double experts = static_cast<double>(moe.experts * 3 * moe.intermediate +
                                               moe.shared_experts * 3 * moe.shared_intermediate);
    // Wide expert parallelism (expert_ranks > tp: attention data-parallel ranks) spreads the routed
    // experts over more ranks than the dense parts; the shared experts stay split over tp.
    if (expert_ranks > tp) {
      const double routed = static_cast<double>(moe.experts * 3 * moe.intermediate);
      const double shared = static_cast<double>(moe.shared_experts * 3 * moe.shared_intermediate);
      linear_layers += count * (attention + h * routed / expert_ranks + h * shared / tp);
    } else {
      linear_layers += count * (attention + h * experts / tp);
    }
    extras_layers += count * (extras + static_cast<double>(moe.experts) * h + (moe.score_bias ? moe.experts : 0));
  }
  const double vocab = static_cast<double>(vocab_size) * h * (tie_word_embeddings ? 1 : 2) / tp;
  const double positions = learned_positions ? static_cast<double>(max_position_embeddings) * h : 0.0;
  // Summed in the order of the single-dtype formula b * (layer * L + vocab + norms), so that a
  // uniform precision gives the same bits (the byte sizes are powers of two; adding 0.0 is exact).
  const double total = bw * linear_layers + ba * extras_layers + ba * vocab + ba * norms + ba * positions;
  if (!precision.quantizes_lm_head() || tie_word_embeddings) return total;
  return total - static_cast<double>(vocab_size) * h / tp * (ba - lm_head_bytes_per_element());
}

double ModelSpec::kv_bytes_per_token(int tp) const {
  // MLA caches one latent and one RoPE key per token and layer, whole on every tensor-parallel rank.
  if (mla.enabled())
    return static_cast<double>(num_hidden_layers * mla.cached_elements()) * precision.kv_bytes_per_element();
  return 2.0 * num_hidden_layers * kv_heads_per_device(tp) * head_dim * precision.kv_bytes_per_element();
}

std::string ModelSpec::tensor_parallel_problem(int tp) const {
  const bool heads_ok = num_attention_heads % tp == 0;
  const bool kv_ok = num_key_value_heads % tp == 0 || tp % num_key_value_heads == 0;
  const bool dense_layers = !moe.enabled() || moe.dense_layers > 0;
  const bool mlp_ok = !dense_layers || intermediate_size % tp == 0;
  const bool experts_ok = !moe.enabled() || (moe.intermediate % tp == 0 && moe.shared_intermediate % tp == 0);
  if (heads_ok && kv_ok && mlp_ok && experts_ok) return {};
  if (!experts_ok)
    return fmt::format("{}'s experts are {} wide; the tensor-parallel degree must divide that", name,
                       moe.intermediate);
  return fmt::format("{} has {} attention heads, {} KV heads and intermediate size {}; the tensor-parallel "
                     "degree must divide them (KV heads may instead divide it)",
                     name, num_attention_heads, num_key_value_heads, intermediate_size);
}

void ModelSpec::check_tensor_parallel(int tp, const config::Node& where, const std::string& key) const {
  if (auto problem = tensor_parallel_problem(tp); !problem.empty()) where.fail_key(key, std::to_string(tp), problem);
}

namespace {
std::vector<std::string> registered_model_types() {
  std::vector<std::string> names;
  for (const auto& [type, builder] : graph_builders()) names.push_back(type);
  return names;
}
}  // namespace

ModelSpec parse_model(const config::Node& node) {
  ModelSpec m;
  m.name = node.get<std::string>("name").required();
  m.model_type = node.get<std::string>("model_type").one_of(registered_model_types());
  // GPT-style (HF GPT2Config): learned positions, LayerNorm with bias, a non-gated MLP and biases on
  // every linear layer, all fixed by the architecture as in transformers' modeling_gpt2.py.
  const bool gpt = m.model_type == "gpt2";
  // GPT2Config's own field names (n_embd, ...), which its attribute_map makes aliases of the Llama-style
  // ones; only a gpt2 model reads them, so elsewhere they stay unknown keys. The spelling given at this
  // level overrides the preset's, whichever it is; both spellings at one level are an error.
  const std::vector<std::string> own = node.keys();
  auto given_here = [&](const char* k) { return std::find(own.begin(), own.end(), k) != own.end(); };
  auto key = [&](const char* name, const char* gpt2_alias) -> std::string {
    if (!gpt) return name;
    if (given_here(name) && given_here(gpt2_alias))
      node.fail_key(gpt2_alias, node.child(gpt2_alias).shown(),
                    fmt::format("give {} or {}, not both", name, gpt2_alias));
    const bool alias = given_here(gpt2_alias) || (!given_here(name) && node.has(gpt2_alias));
    node.has(alias ? name : gpt2_alias);  // the other spelling, if the preset has it, is overridden, not unknown
    return alias ? gpt2_alias : name;
  };
  const std::string heads_key = key("num_attention_heads", "n_head");
  m.hidden_size = node.get<std::int64_t>(key("hidden_size", "n_embd")).in_range(1, 1 << 20);
  const std::string inter = key("intermediate_size", "n_inner");
  if (gpt && !(node.has(inter) && !node.child(inter).is_null()))
    m.intermediate_size = 4 * m.hidden_size;  // GPT2Config: n_inner null (or absent) means 4 * n_embd
  else
    m.intermediate_size = node.get<std::int64_t>(inter).in_range(1, 1 << 22);
  m.num_attention_heads = node.get<std::int64_t>(heads_key).in_range(1, 4096);
  m.num_key_value_heads = node.get<std::int64_t>("num_key_value_heads").default_to(m.num_attention_heads).in_range(1, 4096);
  if (m.num_attention_heads % m.num_key_value_heads != 0)
    node.fail_key("num_key_value_heads", std::to_string(m.num_key_value_heads),
                  fmt::format("expected a divisor of {} ({})", heads_key, m.num_attention_heads));
  m.mla = parse_mla(node, m.model_type);
  if (m.mla.enabled()) {
    m.head_dim = m.mla.qk_head_dim();  // the attention's query/key width; MLA has no head_dim field
  } else {
    if (m.hidden_size % m.num_attention_heads != 0 && !node.has("head_dim"))
      node.fail_key(heads_key, std::to_string(m.num_attention_heads),
                    "expected a divisor of hidden_size (or give head_dim)");
    m.head_dim =
        node.get<std::int64_t>("head_dim").default_to(m.hidden_size / m.num_attention_heads).in_range(1, 4096);
  }
  m.num_hidden_layers = node.get<std::int64_t>(key("num_hidden_layers", "n_layer")).in_range(1, 4096);
  m.vocab_size = node.get<std::int64_t>("vocab_size").in_range(1, 1 << 24);
  m.max_position_embeddings =
      node.get<std::int64_t>(key("max_position_embeddings", "n_positions")).in_range(1, 1LL << 31);
  if (gpt) {
    m.rms_norm_eps = node.get<double>("layer_norm_epsilon").default_to(1e-5).in_range(0.0, 1.0);  // GPT2Config default
    // GPT2Config default gelu_new (the tanh approximation); gelu_pytorch_tanh is the same function.
    m.hidden_act = node.get<std::string>(key("hidden_act", "activation_function"))
                       .default_to("gelu_new")
                       .one_of({"gelu", "gelu_new", "gelu_pytorch_tanh"});
    m.tie_word_embeddings = node.get<bool>("tie_word_embeddings").default_to(true);  // GPT-2 ties wte and lm_head
    m.qkv_bias = m.o_bias = m.mlp_bias = true;  // Conv1D layers c_attn, c_proj, c_fc always carry a bias
    m.gated_mlp = false;
    m.learned_positions = true;
    m.norm_bias = true;
  } else {
    m.rope_theta = node.get<double>("rope_theta").default_to(10000.0).at_least(1.0);
    m.rms_norm_eps = node.get<double>("rms_norm_eps").default_to(1e-6).in_range(0.0, 1.0);
    // LlamaMLP and Qwen2MLP gate whatever hidden_act is; only SiLU (SwiGLU) is modelled.
    m.hidden_act = node.get<std::string>("hidden_act").default_to("silu").one_of({"silu"});
    m.tie_word_embeddings = node.get<bool>("tie_word_embeddings").default_to(false);
    const bool attention_bias = node.get<bool>("attention_bias").default_to(false);
    m.qkv_bias = attention_bias || m.model_type == "qwen2";  // modeling_qwen2.py: q/k/v Linear(bias=True)
    m.o_bias = attention_bias;
    m.qk_norm = m.model_type == "qwen3" || m.model_type == "qwen3_moe";  // modeling_qwen3*.py: q_norm, k_norm
  }
  m.moe = parse_moe(node, m.model_type, m.intermediate_size, m.num_hidden_layers);
  const std::string dtype = node.get<std::string>("torch_dtype").default_to("bfloat16");
  const auto parsed = parse_dtype(dtype);
  if (!parsed || *parsed == DType::tf32)  // tf32 is a math mode, never a checkpoint's dtype
    node.fail_key("torch_dtype", dtype, "expected bfloat16, float16, float32, fp8 or int8");
  m.torch_dtype = *parsed;
  m.precision = parse_precision(node, m.torch_dtype);
  return m;
}

ModelSpec catalog_model(const std::string& name) {
  auto doc = config::Document::load_string("model: " + name + "\n", "model");
  auto layered = catalog::with_preset(doc.root(), "model", "models/catalog");
  ModelSpec m = parse_model(layered.node);
  layered.preset.check_unknown_keys();
  return m;
}

}  // namespace hetsim::models
