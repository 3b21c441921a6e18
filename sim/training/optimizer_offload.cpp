#include "sim/training/optimizer_offload.hpp"

#include <algorithm>

#include "sim/core/error.hpp"
#include "sim/core/units.hpp"

namespace hetsim::training {

const char* to_string(HostPlacement placement) {
  switch (placement) {
    case HostPlacement::dram_first: return "dram_first";
    case HostPlacement::interleave: return "interleave";
    case HostPlacement::bandwidth_aware: return "bandwidth_aware";
  }
  return "?";
}

const char* to_string(const OffloadOp& op) {
  switch (op.kind) {
    case OffloadOp::Kind::cpu_update: return "cpu_adam";
    case OffloadOp::Kind::gpu_update: return "gpu_adam";
    case OffloadOp::Kind::copy: break;
  }
  switch (op.payload) {
    case OffloadOp::Payload::gradients: return "gradients_to_host";
    case OffloadOp::Payload::weights: return op.to == CheckpointPlace::nvme ? "weights_to_nvme" : "weights_to_device";
    case OffloadOp::Payload::states:
      if (op.to == CheckpointPlace::nvme) return "states_to_nvme";
      if (op.from == CheckpointPlace::nvme) return "states_from_nvme";
      return op.to == CheckpointPlace::device ? "states_to_device" : "states_to_host";
  }
  return "offload";
}

OptimizerOffloadPolicy::OptimizerOffloadPolicy(const config::Node& cfg) {
  const std::string p = cfg.get<std::string>("placement")
                            .default_to("dram_first")
                            .one_of({"dram_first", "interleave", "bandwidth_aware"})
                            .value();
  placement_ = p == "interleave"        ? HostPlacement::interleave
               : p == "bandwidth_aware" ? HostPlacement::bandwidth_aware
                                        : HostPlacement::dram_first;
  if (cfg.has("dram_limit")) dram_limit_ = cfg.quantity("dram_limit", units::Dim::bytes).positive().value();
  // The two Xeon Platinum 8480+ sockets of an HGX/DGX H100 server (hw/nodes/hgx-h100.yaml).
  cpu_ = cfg.get<std::string>("cpu").default_to("xeon-8480plus").value();
  sockets_ = cfg.get<int>("sockets").default_to(2).in_range(1, 16);
  const std::string params = cfg.get<std::string>("params").default_to("device").one_of({"device", "host", "nvme"}).value();
  params_ = params == "host" ? CheckpointPlace::host : params == "nvme" ? CheckpointPlace::nvme : CheckpointPlace::device;
}

double cxl_share(HostPlacement placement, double state_bytes, double dram_room, const HostMemory& mem) {
  if (!(state_bytes > 0)) return 0;
  const double overflow = std::max(0.0, state_bytes - std::max(0.0, dram_room)) / state_bytes;
  if (overflow > 0 && !(mem.cxl_bandwidth > 0))
    throw InputError(fmt::format("the optimizer states need {:.1f} GiB of host memory beyond the {:.1f} GiB DRAM can "
                                 "take, and the node has no CXL memory",
                                 (state_bytes - dram_room) / (1 << 30), std::max(0.0, dram_room) / (1 << 30)));
  if (!(mem.cxl_bandwidth > 0)) return 0;
  double share = overflow;
  switch (placement) {
    case HostPlacement::dram_first: break;
    case HostPlacement::interleave:
      // Page round-robin over every NUMA node of the mask: DRAM (one tier here) and each expander.
      share = mem.cxl_tiers / (mem.cxl_tiers + 1);
      break;
    case HostPlacement::bandwidth_aware:
      share = mem.cxl_bandwidth / (mem.cxl_bandwidth + mem.dram_bandwidth);
      break;
  }
  // No placement puts more in DRAM than it can take.
  return std::clamp(std::max(share, overflow), 0.0, 1.0);
}

double cpu_adam_seconds(double parameters, double weight_bytes, const HostCpu& cpu, const HostMemory& mem,
                        double cxl_share) {
  if (!(parameters > 0)) return 0;
  if (!(cpu.fp32_flops > 0) || !(mem.dram_bandwidth > 0))
    throw InputError("pricing the CPU optimizer step: the host needs fp32 FLOP/s and a DRAM bandwidth > 0");
  // The same Adam as the GPU's fused kernel (models/dense_transformer.cpp optimizer_step): 12 FLOPs,
  // 16 B read (master, fp32 gradient, m, v) and 12 B written (master, m, v) plus the weight copy.
  constexpr double kFlops = 12, kStatesTouched = 24, kGradient = 4;
  const double compute = kFlops * parameters / (cpu.fp32_flops * cpu.compute_efficiency);
  const double dram_bytes = parameters * (kGradient + weight_bytes + kStatesTouched * (1 - cxl_share));
  const double cxl_bytes = parameters * kStatesTouched * cxl_share;
  double memory = dram_bytes / (mem.dram_bandwidth * cpu.memory_efficiency);
  if (cxl_bytes > 0) {
    if (!(mem.cxl_bandwidth > 0)) throw InputError("pricing the CPU optimizer step: states in CXL, but no CXL bandwidth");
    memory = std::max(memory, cxl_bytes / (mem.cxl_bandwidth * cpu.memory_efficiency));
  }
  return std::max(compute, memory);
}

}  // namespace hetsim::training
