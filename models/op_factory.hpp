#pragma once
// Constructors of the ops model graph builders emit (one GEMM, elementwise op, attention or
// collective, with its FLOPs and bytes), shared by the layer builders of models/*.cpp.
#include <set>
#include <string>
#include <string_view>

#include "models/precision.hpp"
#include "sim/core/op.hpp"

namespace hetsim::models::ops {

/// Stable storage for derived op names ("o_proj" -> "o_proj_dgrad"); names are few and static.
inline std::string_view intern(std::string name) {
  static std::set<std::string> names;
  return *names.insert(std::move(name)).first;
}

/// Byte sizes of the precision's kinds (models/precision.hpp).
struct Bytes {
  double w, a, kv, c;  ///< linear-layer weights, activations (and unquantized weights), KV cache, collectives
  explicit Bytes(const Precision& p)
      : w(p.weight_bytes_per_element()), a(bytes_per_element(p.activations)), kv(p.kv_bytes_per_element()),
        c(bytes_per_element(p.comm)) {}
};

/// Y = X W (m x k times k x n) in `math`, its k x n weight stored at `wb` bytes per element; the
/// bias (n, unquantized as in vLLM's Fp8LinearMethod), X and Y at `ab`.
inline Op gemm(std::string_view name, DType math, double wb, double ab, double m, double n, double k, double repeat,
        bool bias = false) {
  Op op;
  op.name = name;
  op.cls = OpClass::gemm;
  op.dtype = math;
  op.flops = 2 * m * n * k + (bias ? m * n : 0);
  op.weights.bytes = k * n * wb + (bias ? n * ab : 0);
  op.activations.bytes = (m * k + m * n) * ab;
  op.repeat = repeat;
  return op;
}
/// Weight elements of that GEMM (the gradient a weight-gradient GEMM accumulates).
inline double gemm_weight_elements(double n, double k, bool bias = false) { return k * n + (bias ? n : 0); }

inline Op elementwise(std::string_view name, DType dt, double flops, double activation_bytes, double weight_bytes, double repeat) {
  Op op;
  op.name = name;
  op.cls = OpClass::elementwise;
  op.dtype = dt;
  op.flops = flops;
  op.activations.bytes = activation_bytes;
  op.weights.bytes = weight_bytes;
  op.repeat = repeat;
  return op;
}

inline Op attention(std::string_view name, OpClass cls, DType dt, double flops, double activation_bytes, double kv_bytes,
             double repeat) {
  Op op;
  op.name = name;
  op.cls = cls;
  op.dtype = dt;
  op.flops = flops;
  op.activations.bytes = activation_bytes;
  op.kv.bytes = kv_bytes;
  op.repeat = repeat;
  return op;
}

inline Op collective(std::string_view name, Collective kind, DType dt, int group, double payload_bytes, double repeat) {
  Op op;
  op.name = name;
  op.cls = OpClass::collective;
  op.dtype = dt;
  op.collective = kind;
  op.group = group;
  op.comm_bytes = payload_bytes;
  op.repeat = repeat;
  return op;
}

}  // namespace hetsim::models::ops
