// Synchronous checkpoint (torch.save / Megatron's blocking save): every device writes its shard
// straight to the target while training waits; the stall is the whole write, bytes over the
// route's bottleneck (the node's NVMe and the PCIe switch two GPUs share, or the host link).
#include "sim/core/registry.hpp"
#include "sim/training/checkpoint.hpp"

namespace hetsim::policies {
namespace {

using training::CheckpointPlace;

class SyncCheckpoint final : public training::CheckpointPolicy {
 public:
  explicit SyncCheckpoint(const config::Node& cfg) : CheckpointPolicy(cfg), target_(read_target(cfg, "nvme")) {}
  std::vector<training::CheckpointCopy> copies() const override { return {{CheckpointPlace::device, target_, true}}; }

 private:
  CheckpointPlace target_;
};

}  // namespace
HETSIM_REGISTER(training::CheckpointPolicy, SyncCheckpoint, "sync", "synchronous save: training waits for the whole write");
}  // namespace hetsim::policies
