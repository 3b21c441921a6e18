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

  /// Every kind in `d`.
  static Precision all(DType d) { return {d, d, d, d, d}; }
  /// Whether all five kinds are the same dtype (no mixed precision to report).
  bool uniform() const { return *this == all(weights); }
  /// "weights fp8, gemm fp8, activations bf16, kv fp8, comm bf16".
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
