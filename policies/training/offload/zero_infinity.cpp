// ZeRO-Infinity's NVMe optimizer offload (Rajbhandari et al., SC'21; DeepSpeed offload_optimizer
// with device: nvme): the optimizer states live on the node's NVMe. Per step the gradient shard
// goes down to host memory, the states are read from the SSD into pinned host buffers, the CPU
// updates them, they are written back, and the updated weights go up to the device. DeepSpeed
// runs the read, update and write one after another (pipeline_read / pipeline_write off, its
// default); `pipeline: true` overlaps them (one phase, bounded by the slowest).
#include "sim/core/registry.hpp"
#include "sim/training/optimizer_offload.hpp"

namespace hetsim::policies {
namespace {

using training::CheckpointPlace;
using training::OffloadOp;
using Kind = OffloadOp::Kind;
using Payload = OffloadOp::Payload;

class ZeroInfinity final : public training::OptimizerOffloadPolicy {
 public:
  explicit ZeroInfinity(const config::Node& cfg)
      : OptimizerOffloadPolicy(cfg), pipeline_(cfg.get<bool>("pipeline").default_to(false)) {}
  CheckpointPlace states_place() const override { return CheckpointPlace::nvme; }
  training::OffloadStep step() const override {
    const OffloadOp down{Kind::copy, CheckpointPlace::device, CheckpointPlace::host, Payload::gradients};
    const OffloadOp read{Kind::copy, CheckpointPlace::nvme, CheckpointPlace::host, Payload::states};
    const OffloadOp update{Kind::cpu_update};
    const OffloadOp write{Kind::copy, CheckpointPlace::host, CheckpointPlace::nvme, Payload::states};
    const OffloadOp up{Kind::copy, CheckpointPlace::host, CheckpointPlace::device, Payload::weights};
    if (pipeline_) return {{{{down}}, {{read}, {update}, {write}}, {{up}}}};
    return {{{{down}}, {{read}}, {{update}}, {{write}}, {{up}}}};
  }

 private:
  bool pipeline_;
};

}  // namespace
HETSIM_REGISTER(training::OptimizerOffloadPolicy, ZeroInfinity, "zero_infinity",
                "optimizer states on NVMe: read, CPU Adam, write back each step (pipeline: true overlaps them)");
}  // namespace hetsim::policies
