#pragma once
// A decoder-only transformer described with Hugging Face config.json field names, and what follows
// from it: parameter counts, bytes per device under tensor parallelism, KV bytes per token.
#include <cstdint>
#include <string>
#include <vector>

#include "models/mla.hpp"
#include "models/moe.hpp"
#include "models/precision.hpp"
#include "sim/core/config.hpp"
#include "sim/core/op.hpp"

namespace hetsim::models {

struct ModelSpec {
  std::string name;               ///< catalog name, e.g. "llama-3-8b"
  /// HF model_type: "llama", "qwen2", "qwen3" (Llama-style), "gpt2" (GPT-style), "mixtral",
  /// "qwen3_moe" (MoE) or "deepseek_v3" (MoE with MLA).
  std::string model_type;
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_attention_heads = 0;
  std::int64_t num_key_value_heads = 0;  ///< < heads means GQA; == heads means MHA
  std::int64_t head_dim = 0;       ///< with MLA: the query/key width per head (no-RoPE + RoPE parts)
  std::int64_t num_hidden_layers = 0;
  std::int64_t vocab_size = 0;
  std::int64_t max_position_embeddings = 0;
  double rope_theta = 0;
  double rms_norm_eps = 0;        ///< the norms' epsilon (rms_norm_eps, or GPT-2's layer_norm_epsilon)
  std::string hidden_act;         ///< "silu" (Llama-style) or "gelu", "gelu_new", "gelu_pytorch_tanh" (GPT-style)
  bool tie_word_embeddings = false;
  bool qkv_bias = false;          ///< Qwen2 hard-codes q/k/v biases; Llama's attention_bias adds o_proj too
  bool o_bias = false;
  /// Gated MLP of three matrices, down(act(gate x) * up x) (Llama, Qwen2); false: two, fc2(act(fc1 x)) (GPT-2).
  bool gated_mlp = true;
  bool mlp_bias = false;           ///< biases on the MLP matrices (GPT-2: on fc1 and fc2)
  /// A learned max_position_embeddings x hidden_size table added to the token embedding (GPT-2); false: RoPE.
  bool learned_positions = false;
  bool norm_bias = false;          ///< LayerNorm with weight and bias (GPT-2); false: RMSNorm, weight only
  bool qk_norm = false;            ///< RMSNorm of each head's query and key (Qwen3's q_norm, k_norm)
  MoeSpec moe;                     ///< mixture-of-experts MLPs; moe.enabled() false for dense models
  MlaSpec mla;                     ///< multi-head latent attention; mla.enabled() false for MHA/GQA
  DType torch_dtype = DType::bf16;  ///< the checkpoint's dtype; only sets the defaults of `precision`
  Precision precision;              ///< dtypes of weights, GEMM math, activations, KV cache, collectives

  /// Decoder layers that share one shape: all of a dense model's; an MoE model's dense and MoE ones.
  struct LayerKind {
    std::int64_t count = 0;
    std::int64_t parameters = 0;         ///< of one such layer
    std::int64_t linear_parameters = 0;  ///< of its linear-layer matrices (no biases, no norms)
    std::int64_t active_parameters = 0;  ///< used by one token (MoE: k routed and the shared experts)
  };
  /// The decoder's layer kinds, in layer order (DeepSeek-V3: 3 dense, then 58 MoE).
  std::vector<LayerKind> layer_kinds() const;

  /// Total parameters, embeddings and LM head included.
  std::int64_t parameters() const;
  /// Parameters one token uses (MoE: the router, k routed and the shared experts of each MoE
  /// layer), embeddings and LM head included; parameters() for a dense model.
  std::int64_t active_parameters() const;
  /// Parameters of one decoder layer (the mean over layers for a model with several layer kinds).
  std::int64_t layer_parameters() const;
  /// Parameters of one decoder layer's linear-layer matrices (q/k/v/o, gate/up/down or fc1/fc2; no
  /// biases); the mean over layers for a model with several layer kinds.
  std::int64_t layer_linear_parameters() const;
  /// Bytes of one decoder layer's parameters as stored: the linear matrices in precision.weights,
  /// biases and norms in precision.activations (the mean over layers for several layer kinds).
  double layer_weight_bytes() const;
  /// Bytes of the parameters of decoder layers [first, first + count) as stored, in layer order
  /// (DeepSeek-V3's leading dense layers before its MoE ones).
  double layers_weight_bytes(std::int64_t first, std::int64_t count) const;
  /// Width of the widest MLP activation per token on one device at degree `tp`, for workspace
  /// estimates: the dense intermediate, or an MoE layer's k routed + shared experts' widths.
  double mlp_activation_width(int tp) const;
  /// Parameters of one norm (RMSNorm: hidden_size; LayerNorm: twice that).
  std::int64_t norm_parameters() const { return (norm_bias ? 2 : 1) * hidden_size; }
  /// Matrices of one layer's MLP: 3 (gated: gate, up, down) or 2 (fc1, fc2).
  std::int64_t mlp_matrices() const { return gated_mlp ? 3 : 2; }
  /// Bytes of all parameters as stored (embedding, LM head and final norm in precision.activations).
  double weight_bytes() const;
  /// Bytes per element of the LM head as stored and read: the quantized weights' when the
  /// precision quantizes an untied head (Precision::quantizes_lm_head), else the activations'.
  double lm_head_bytes_per_element() const {
    return precision.quantizes_lm_head() && !tie_word_embeddings ? precision.quantized_head_bytes_per_element()
                                                                 : bytes_per_element(precision.activations);
  }
  /// Weight bytes held by one device at tensor-parallel degree `tp` (vocab-parallel embedding and head);
  /// `expert_ranks` > tp: the routed experts spread over that many ranks (wide expert parallelism).
  double weight_bytes_per_device(int tp, int expert_ranks = 0) const;
  /// Bytes of one routed expert's gate, up and down matrices in one MoE layer, split in width over
  /// `tp` ranks (what expert offload copies, what an EPLB replica adds to its rank).
  double routed_expert_bytes(int tp = 1) const {
    return static_cast<double>(moe.expert_parameters(hidden_size)) * precision.weight_bytes_per_element() / tp;
  }
  /// KV heads held by one device at degree `tp` (replicated when tp exceeds the KV heads). With
  /// MLA the cached latent is shared by all heads and every device holds it whole.
  std::int64_t kv_heads_per_device(int tp) const;
  /// KV-cache bytes per token on one device at degree `tp`, all layers.
  double kv_bytes_per_token(int tp) const;
  /// Why `tp` devices cannot split the model's heads evenly; empty if they can.
  std::string tensor_parallel_problem(int tp) const;
  /// Error at `where` unless the heads split evenly over `tp` devices.
  void check_tensor_parallel(int tp, const config::Node& where, const std::string& key) const;
};

/// Reads a model from a (layered) config node with HF field names; validates shapes.
ModelSpec parse_model(const config::Node& node);
/// The catalog entry `name` (models/catalog/NAME.yaml); unknown keys are errors.
ModelSpec catalog_model(const std::string& name);

}  // namespace hetsim::models
