#pragma once
// The numeric formats a model runs in, one per kind of data, so that FP8 weights and GEMMs can go
// with 16-bit activations, KV cache and collectives as real serving and training stacks run them
// (vLLM `--quantization fp8`, `--kv-cache-dtype fp8`; Transformer Engine FP8 training).
// Scenario key: `model.precision` (models/precision.cpp documents the forms and defaults).
#include <string>

#include "sim/core/config.hpp"
#include "sim/core/op.hpp"

namespace hetsim::models {

struct Precision {
  /// Stored weights of the decoder's linear layers (q/k/v/o, gate/up/down): their memory
  /// footprint and the bytes their GEMMs read. Embedding, LM head, biases and norms are not
  /// quantized (vLLM's Fp8LinearMethod covers LinearBase layers only) and stay in `activations`.
  DType weights = DType::bf16;
  /// Math of those GEMMs: the peak they run at.
  DType gemm = DType::bf16;
  /// Activations between ops, elementwise ops, attention math, and the unquantized layers above.
  DType activations = DType::bf16;
  /// KV cache: bytes per token, the K/V bytes attention reads and writes, KV transfers and swaps.
  DType kv = DType::bf16;
  /// Payload of the activation collectives (tensor-, sequence- and context-parallel).
  DType comm = DType::bf16;

  /// KV cache quantized below a dtype (`kv_quant`; KIVI, Liu et al. ICML'24: asymmetric
  /// quantization in groups, each with a 16-bit scale and zero point). When `bits` > 0 it replaces
  /// `kv` as the KV storage: bits per element plus `group_bytes` per `group_size` elements, and
  /// attention spends `dequant_flops` per element it reads to dequantize.
  struct KvQuant {
    int bits = 0;  ///< 0: not quantized
    int group_size = 32;
    double group_bytes = 4;
    double dequant_flops = 2;
    bool operator==(const KvQuant&) const = default;
  };
  KvQuant kv_quant;

  /// Linear-layer weights quantized below a dtype (`weight_quant`; GPTQ/AWQ-style W4A16: integer
  /// weights in groups along the input dimension, each group with a 16-bit scale and zero point,
  /// dequantized inside the GEMM, whose math stays in `gemm`). When `bits` > 0 it replaces `weights`
  /// as their storage: bits per element plus `group_bytes` per `group_size` elements. `lm_head`
  /// quantizes the (untied) output matrix the same way, as on-device engines do (MLC's q4f16_1,
  /// llama.cpp); server stacks keep it in 16 bits (vLLM's GPTQ/AWQ skip lm_head). `lm_head` may also
  /// give the head its own grouping (llama.cpp's Q4_K_M stores it as Q6_K: 6 bits + 18 bytes per 256).
  struct WeightQuant {
    int bits = 0;  ///< 0: not quantized
    int group_size = 128;
    double group_bytes = 4;
    bool lm_head = false;
    int head_bits = 0;  ///< > 0: the head's own bits, group_size and group_bytes; 0: the layers'
    int head_group_size = 128;
    double head_group_bytes = 4;
    bool operator==(const WeightQuant&) const = default;
  };
  WeightQuant weight_quant;

  /// Bytes one linear-layer weight takes as stored (and as its GEMM reads it).
  double weight_bytes_per_element() const {
    return weight_quant.bits > 0 ? weight_quant.bits / 8.0 + weight_quant.group_bytes / weight_quant.group_size
                                 : bytes_per_element(weights);
  }
  /// Whether an untied LM head is stored (and read) quantized, at lm_head_bytes_per_element().
  bool quantizes_lm_head() const { return weight_quant.bits > 0 && weight_quant.lm_head; }
  /// Bytes one element of a quantized LM head takes: its own grouping's, or the layers'.
  double quantized_head_bytes_per_element() const {
    return weight_quant.head_bits > 0 ? weight_quant.head_bits / 8.0 + weight_quant.head_group_bytes / weight_quant.head_group_size
                                      : weight_bytes_per_element();
  }

  /// Bytes one KV element takes in the cache (and in its reads, writes and transfers).
  double kv_bytes_per_element() const {
    return kv_quant.bits > 0 ? kv_quant.bits / 8.0 + kv_quant.group_bytes / kv_quant.group_size : bytes_per_element(kv);
  }

  /// Every kind in `d`.
  static Precision all(DType d) { return {d, d, d, d, d, {}, {}}; }
  /// Whether all five kinds are the same dtype (no mixed precision to report).
  bool uniform() const { return *this == all(weights); }
  /// "weights fp8, gemm fp8, activations bf16, kv fp8, comm bf16" (", kv quantized to 4 bits in
  /// groups of 32" with kv_quant, ", weights quantized to 4 bits in groups of 128" with weight_quant).
  std::string describe() const;
  bool operator==(const Precision&) const = default;
};

/// The precision a checkpoint of `torch_dtype` runs in when the scenario gives none.
Precision default_precision(DType torch_dtype);

/// Reads `precision` of the (layered) model node `model`, on top of the defaults for
/// `torch_dtype`: a dtype (short form: 8-bit sets weights and gemm, 16/32-bit sets all five) or a
/// map of the five kinds with an optional short form as `preset`. Every bad value is an
/// InputError naming the key path. When the key is given or the result is mixed, the five dtypes
/// are recorded in the resolved configuration.
Precision parse_precision(const config::Node& model, DType torch_dtype);

}  // namespace hetsim::models
