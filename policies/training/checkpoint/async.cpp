// Asynchronous two-phase checkpoint (CheckFreq, Mohan et al., FAST'21; PyTorch DCP async_save;
// Megatron-Core's async save): training waits only for the snapshot of every device's shard into
// host memory; the persist from host memory to the target runs in the background, contending with
// later iterations' traffic. The checkpoint counts once the persist ends.
#include "sim/core/registry.hpp"
#include "sim/training/checkpoint.hpp"

namespace hetsim::policies {
namespace {

using training::CheckpointPlace;

class AsyncCheckpoint final : public training::CheckpointPolicy {
 public:
  explicit AsyncCheckpoint(const config::Node& cfg) : CheckpointPolicy(cfg), target_(read_target(cfg, "nvme")) {}
  std::vector<training::CheckpointCopy> copies() const override {
    if (target_ == CheckpointPlace::host) return {{CheckpointPlace::device, CheckpointPlace::host, true}};
    return {{CheckpointPlace::device, CheckpointPlace::host, true}, {CheckpointPlace::host, target_, false}};
  }

 private:
  CheckpointPlace target_;
};

}  // namespace
HETSIM_REGISTER(training::CheckpointPolicy, AsyncCheckpoint, "async",
                "two-phase: snapshot to host memory (training waits), persist in the background");
}  // namespace hetsim::policies
