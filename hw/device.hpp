#pragma once
// A compute device as the simulator sees it: peak rates per dtype, its memory, its links, and the
// efficiencies that turn peaks into achieved rates. Loaded from hw/catalog/*.yaml (a preset), with
// scenario overrides layered on top.
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "hw/collective_model.hpp"
#include "hw/memory_tier.hpp"
#include "sim/core/config.hpp"
#include "sim/core/op.hpp"

namespace hetsim::hw {

/// Achieved fraction of peak for one op class, as a function of the work in one kernel:
///   e(s) = e_max * s / (s + s_half)
/// (s = FLOPs for compute, bytes for memory). Small kernels reach a small fraction; large ones
/// approach e_max. This is the same as an affine time t = (s + s_half) / (peak * e_max), which is
/// what calibrate/ fits to measured kernels. s_half = 0 gives a constant efficiency.
struct Efficiency {
  double compute = 1.0;       ///< e_max of peak FLOP/s
  double memory = 1.0;        ///< e_max of memory (or, for collectives, link) bandwidth
  double compute_half = 0.0;  ///< FLOPs at which compute efficiency is half of e_max
  double memory_half = 0.0;   ///< bytes at which memory efficiency is half of e_max
  /// How the compute and memory times of one kernel combine: t = (t_c^p + t_m^p)^(1/p). 0 = max
  /// (perfect overlap, the plain roofline); fitted p > 0 describes kernels in the transition
  /// between the regimes, where the roofline's max is optimistic (skinny GEMMs of 32-128 tokens).
  double blend = 0.0;
  /// compute_half is FLOPs per work unit of the op (Op::units, e.g. per (sequence, head) of an
  /// attention kernel), not per kernel: measured kernel curves (FlashAttention) are of that form.
  bool half_per_unit = false;
  std::string source;         ///< "catalog default (uncalibrated)" or "profile NAME"
};

/// A point-to-point link class of a device (NVLink, PCIe, ...).
struct LinkSpec {
  std::string kind;      ///< pcie | nvlink | nvlink-c2c | infinity-fabric | ici (TPU) | hccs (Ascend) | upi | network (NIC)
                         ///< (Xeon socket-socket) | shared-memory (SoC) | memory-bus (PIM: the host's memory interface)
  double bandwidth = 0;  ///< bytes/s per direction
  double latency = 0;    ///< seconds per hop
};

/// Reads a link {kind, bandwidth, latency}; `default_kind` when kind is not given.
LinkSpec parse_link(const config::Node& node, const char* default_kind);

/// Kinds of compute device (soc: a phone/laptop SoC whose CPU, GPU and NPU share one memory). The
/// roofline is the same; what differs is which engines a device has and which tiers they stream from
/// (NPU on-chip SRAM, PIM's internal bandwidth, flash storage). csd: computational storage, an engine
/// beside a drive's flash (InstInfer); storage: a drive that only holds bytes (an NVMe SSD as a KV home).
enum class DeviceKind { gpu, cpu, npu, pim, soc, csd, storage };

/// The curve of one op (by graph-builder op name, e.g. "down_proj") where it was measured: one class
/// covers kernels as different as RMSNorm and RoPE, or GEMMs whose shapes a tiled engine handles
/// unequally, so where measurements of an op exist its own curve prices it and the class curve the rest.
struct OpEfficiency {
  std::string op;
  OpClass cls = OpClass::elementwise;
  Efficiency efficiency;
};

/// One compute engine of a device: GPU SMs, CPU cores, an NPU's systolic arrays, PIM units, or one
/// of an SoC's engines. Its memory-bound work streams from its home tier unless placement says
/// otherwise.
struct ComputeEngine {
  std::string name;                                 ///< "sm", "cores", "systolic", "pim", or the SoC engine's name
  std::array<double, kDTypes.size()> peak_flops{};  ///< FLOP/s by DType; 0 = unsupported
  std::array<bool, kNumOpClasses> runs{};           ///< op classes the engine can execute
  std::size_t home_tier = 0;                        ///< index into Device::tiers
  /// The most this engine streams from a memory tier, bytes/s (0: the tier's bandwidth). An SoC's
  /// engines share one memory that no single engine saturates (HeteroInfer, Chen et al. 2025: one
  /// processor reaches 40-45 GB/s of a Snapdragon 8 Gen 3's ~60), which is why splitting pays.
  double memory_bandwidth = 0;
  /// Curves measured on this engine (an SoC entry's `engines.NAME.efficiency`); where absent, the
  /// device's curves price its ops.
  std::array<std::optional<Efficiency>, kNumOpClasses> efficiency{};
  std::vector<OpEfficiency> op_efficiency;

  double peak(DType d) const { return peak_flops[static_cast<std::size_t>(d)]; }
  bool can_run(OpClass c) const { return runs[static_cast<std::size_t>(c)]; }
};

/// Two engines of an SoC sharing each op (HeteroInfer, Chen et al. arXiv 2501.14794): the model
/// engine computes `share` of the op's work (rows of a GEMM's weight) while `with` computes the
/// rest from the same unified memory, and the op ends when both have and the engines synchronise.
/// Both stream from the one memory, so together they are bound by its bandwidth, not by the sum
/// of the engines' own ceilings. Each op runs split, or whole on the faster engine, whichever is faster.
struct EngineSplit {
  std::size_t with = 0;   ///< index of the partner engine in Device::engines
  double share = -1;      ///< the model engine's share of each split op; < 0: auto (the split that finishes first)
  double sync = 0;        ///< seconds to join the engines' results per split op (or to hand an op to the partner)
  std::array<bool, kNumOpClasses> ops{};  ///< op classes that split (default: gemm)
};

/// A device: compute engines attached to memory tiers. tiers[0] is its main memory (HBM, GDDR,
/// LPDDR/DDR), which is what a node's device slot holds; SRAM, PIM-internal memory and flash
/// storage follow when the device has them.
struct Device {
  std::string name;                  ///< catalog name, e.g. "h100-sxm5-80gb"
  std::string kind_name;             ///< "gpu" | "cpu" | "npu" | "pim" | "soc" | "csd" | "storage"
  DeviceKind kind = DeviceKind::gpu;
  std::vector<ComputeEngine> engines;
  std::size_t engine = 0;            ///< the engine that runs the model (SoC: `engine:`; else the only one)
  /// The engine that runs serving's decode-only steps (SoC: `decode_engine:`, PowerInfer-2's CPU
  /// decode beside NPU prefill; else `engine`).
  std::size_t decode_engine = 0;
  /// SoC: ops of the split classes shared by the model engine and a partner (`split:`); none: one engine.
  std::optional<EngineSplit> split;
  std::vector<MemoryTier> tiers;     ///< [0] = main memory
  LinkSpec scale_up;                 ///< intra-node device-device link (NVLink)
  LinkSpec host;                     ///< host link (PCIe)
  double kernel_launch_overhead = 0; ///< seconds added per kernel launch
  /// Per GEMM dtype, the achievable fraction of its peak relative to a 16-bit GEMM's of its own
  /// (`gemm_dtype_ceiling: {fp8: 0.883}`): the gemm curve (catalog default or a profile, measured
  /// in 16-bit) scaled for that dtype. 1 where not given.
  std::array<double, kDTypes.size()> gemm_dtype_ceiling = [] {
    std::array<double, kDTypes.size()> ones{};
    ones.fill(1.0);
    return ones;
  }();
  std::array<Efficiency, kNumOpClasses> efficiency{};
  std::string efficiency_source;     ///< summary of the sources of `efficiency`
  /// Collectives measured on this device's scale-up network (calibrated profile), by kind and group
  /// size; others use the alpha-beta ring/tree model.
  std::vector<MeasuredCollective> measured_collectives;
  const MeasuredCollective* measured(Collective kind, int ranks, int nodes) const {
    for (const MeasuredCollective& m : measured_collectives)
      if (m.kind == kind && m.ranks == ranks && m.nodes == nodes) return &m;
    return nullptr;
  }
  double cost_per_hour = 0;          ///< rental price per device-hour in USD; 0 = unknown
  /// Curves of single ops (a profile's `ops:`, by graph-builder op name, e.g. "input_norm").
  std::vector<OpEfficiency> op_efficiency;
  /// Main memory as the driver reports its total (CUDA's cudaMemGetInfo total, vLLM's
  /// total_gpu_memory): `memory.usable`, or the datasheet capacity where the entry gives none.
  double usable_memory = 0;
  std::string usable_memory_source;  ///< "driver-reported total" or "datasheet capacity (no driver figure)"

  const ComputeEngine& compute() const { return engines[engine]; }
  /// This device with its decode engine running the model (itself when they are the same).
  Device decoding() const {
    Device d = *this;
    d.engine = decode_engine;
    return d;
  }
  /// Whether the model engine can execute ops of class `c` (policies ask before placing work here).
  bool can_run(OpClass c) const { return compute().can_run(c); }
  double peak(DType d) const { return compute().peak(d); }
  const Efficiency& eff(OpClass c) const { return efficiency[static_cast<std::size_t>(c)]; }
  /// The curve that prices `op` on `engine`: the engine's own curve for the op, else for its class
  /// (engines measured apart), else the device's for the op (op_efficiency), else for its class.
  const Efficiency& eff(const Op& op, const ComputeEngine& engine) const {
    for (const OpEfficiency& o : engine.op_efficiency)
      if (o.cls == op.cls && o.op == op.name) return o.efficiency;
    if (const auto& own = engine.efficiency[static_cast<std::size_t>(op.cls)]) return *own;
    for (const OpEfficiency& o : op_efficiency)
      if (o.cls == op.cls && o.op == op.name) return o.efficiency;
    return eff(op.cls);
  }
  /// The curve that prices `op` on the model engine.
  const Efficiency& eff(const Op& op) const { return eff(op, compute()); }
  const MemoryTier& memory() const { return tiers.front(); }
  /// Index of the first tier of kind `k`, if the device has one.
  std::optional<std::size_t> find_tier(TierKind k) const;
  /// The device's flash storage tier (LLM-in-a-flash placement), if any.
  const MemoryTier* storage() const;
};

/// Reads a device from a (possibly layered) config node; validates every value. A `profile: NAME`
/// key applies hw/profiles/NAME.yaml over the catalog efficiencies.
Device parse_device(const config::Node& node);
/// The catalog entry `name` (hw/catalog/NAME.yaml) with its profile applied (or, `with_profile`
/// false, with the catalog's own efficiencies); unknown keys are errors.
Device catalog_device(const std::string& name, bool with_profile = true);
/// Which source priced each op class, grouped ("gemm, ...: profile X; collective: catalog default").
std::string describe_sources(const Device& device);

}  // namespace hetsim::hw
