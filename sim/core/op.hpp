#pragma once
// The op description shared by models/ (which produce ops) and hw/ (which prices them); neither
// knows the other. All quantities are per instance, in SI units; `repeat` instances run back to back
// (e.g. one per layer).
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace hetsim {

/// Classes of ops the cost model prices with separate efficiencies (and calibrate/ fits separately).
enum class OpClass : std::uint8_t { gemm, attention_prefill, attention_decode, elementwise, collective };
inline constexpr std::array kOpClasses{OpClass::gemm, OpClass::attention_prefill, OpClass::attention_decode,
                                       OpClass::elementwise, OpClass::collective};
inline constexpr std::size_t kNumOpClasses = kOpClasses.size();

constexpr std::string_view to_string(OpClass c) {
  switch (c) {
    case OpClass::gemm: return "gemm";
    case OpClass::attention_prefill: return "attention_prefill";
    case OpClass::attention_decode: return "attention_decode";
    case OpClass::elementwise: return "elementwise";
    case OpClass::collective: return "collective";
  }
  return "?";
}

/// The op class named `name` ("gemm", ...), if there is one.
constexpr std::optional<OpClass> parse_op_class(std::string_view name) {
  for (OpClass c : kOpClasses)
    if (to_string(c) == name) return c;
  return std::nullopt;
}

/// Numeric formats with distinct peak rates.
enum class DType : std::uint8_t { fp32, tf32, bf16, fp16, fp8, int8 };
inline constexpr std::array kDTypes{DType::fp32, DType::tf32, DType::bf16, DType::fp16, DType::fp8, DType::int8};

constexpr std::string_view to_string(DType d) {
  switch (d) {
    case DType::fp32: return "fp32";
    case DType::tf32: return "tf32";
    case DType::bf16: return "bf16";
    case DType::fp16: return "fp16";
    case DType::fp8: return "fp8";
    case DType::int8: return "int8";
  }
  return "?";
}

constexpr double bytes_per_element(DType d) {
  switch (d) {
    case DType::fp32:
    case DType::tf32: return 4;
    case DType::bf16:
    case DType::fp16: return 2;
    case DType::fp8:
    case DType::int8: return 1;
  }
  return 0;
}

/// Parses a dtype name ("bf16", or HF torch_dtype spellings such as "bfloat16"); nullopt if unknown.
constexpr std::optional<DType> parse_dtype(std::string_view name) {
  if (name == "bf16" || name == "bfloat16") return DType::bf16;
  if (name == "fp16" || name == "float16" || name == "half") return DType::fp16;
  if (name == "fp32" || name == "float32" || name == "float") return DType::fp32;
  if (name == "tf32") return DType::tf32;
  if (name == "fp8" || name == "float8") return DType::fp8;
  if (name == "int8") return DType::int8;
  return std::nullopt;
}

/// Collective pattern of a collective op (send_recv: point-to-point, e.g. pipeline stages).
enum class Collective : std::uint8_t { none, all_reduce, all_gather, reduce_scatter, all_to_all, broadcast, send_recv };

constexpr std::string_view to_string(Collective c) {
  switch (c) {
    case Collective::none: return "none";
    case Collective::all_reduce: return "all_reduce";
    case Collective::all_gather: return "all_gather";
    case Collective::reduce_scatter: return "reduce_scatter";
    case Collective::all_to_all: return "all_to_all";
    case Collective::broadcast: return "broadcast";
    case Collective::send_recv: return "send_recv";
  }
  return "?";
}

/// Parses a collective name as to_string writes it; nullopt if unknown (or "none").
constexpr std::optional<Collective> parse_collective(std::string_view name) {
  for (Collective c : {Collective::all_reduce, Collective::all_gather, Collective::reduce_scatter, Collective::all_to_all,
                       Collective::broadcast, Collective::send_recv})
    if (to_string(c) == name) return c;
  return std::nullopt;
}

/// How a collective is carried out: a ring (bandwidth-optimal, k-1 latency steps per phase) or a
/// (double binary) tree (log2 k latency steps per phase), as NCCL offers; `fastest` picks the
/// cheaper of the two for each op, as NCCL's tuner does.
enum class CollectiveAlgorithm : std::uint8_t { ring, tree, fastest };

/// Index of a memory tier of the device an op runs on (hw::Device::tiers); kHomeTier = the home
/// tier of the engine that runs the op.
using TierIndex = std::uint8_t;
inline constexpr TierIndex kHomeTier = 0xff;

/// Index of a compute engine of the device an op runs on (hw::Device::engines); kModelEngine =
/// the engine that runs the model (an SoC's chosen engine; the only one elsewhere).
using EngineIndex = std::uint8_t;
inline constexpr EngineIndex kModelEngine = 0xff;

/// Bytes an op reads and writes in one place.
struct Operand {
  double bytes = 0;
  TierIndex tier = kHomeTier;
};

/// An MoE dispatch or combine all-to-all of routed rows: each row goes to `fanout` experts (top-k),
/// which sit in `groups` expert groups laid out in order over the ranks, a row reaching at most
/// `group_limit` of them (DeepSeek-V3's node-limited routing; 0: no limit). Across nodes a row
/// crosses once per distinct remote node it reaches and is forwarded to that node's experts over
/// scale-up (DeepEP's internode kernels). fanout 0: a plain all-to-all.
struct RoutedRows {
  double fanout = 0;
  int groups = 0;
  int group_limit = 0;
};

/// One operation of a model step, as the cost model sees it: its class, work, operands with the
/// tier each lives in, the engine that runs it and, for collectives, the group it spans.
struct Op {
  std::string_view name;  ///< e.g. "qkv_proj"; static storage
  OpClass cls = OpClass::gemm;
  DType dtype = DType::bf16;
  double flops = 0;     ///< arithmetic per instance
  Operand weights;      ///< parameter bytes read per instance
  Operand activations;  ///< activation bytes read + written per instance
  Operand kv;           ///< KV-cache bytes read + written per instance
  double repeat = 1;    ///< instances (e.g. number of layers)
  int kernels = 1;      ///< kernel launches per instance
  EngineIndex engine = kModelEngine;  ///< engine of the device that runs it; placement may move it
  Collective collective = Collective::none;
  CollectiveAlgorithm algorithm = CollectiveAlgorithm::ring;
  int group = 1;          ///< participants of a collective
  int group_nodes = 1;    ///< nodes the group spans (> 1: hierarchical over scale-up and scale-out)
  double comm_bytes = 0;  ///< collective payload per participant
  RoutedRows routed;      ///< an all-to-all of routed rows (MoE dispatch and combine)
  /// Independent work items the kernel spreads over the GPU (attention: sequences x heads); 0 = one.
  /// A curve whose half-size is per unit (Efficiency::half_per_unit) scales it by this: an attention
  /// kernel's efficiency follows the work per (sequence, head), not the batch's total.
  double units = 0;

  double bytes() const { return weights.bytes + activations.bytes + kv.bytes; }
  /// `share` of this op's work: its FLOPs, operand bytes and work units (one device's or one
  /// engine's part of an op split across them).
  void scale_work(double share) {
    flops *= share;
    weights.bytes *= share;
    activations.bytes *= share;
    kv.bytes *= share;
    units *= share;
  }
};

}  // namespace hetsim
