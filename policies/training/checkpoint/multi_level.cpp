// Multi-level lazy checkpoint (DataStates-LLM, Maurya et al., HPDC'24): training does not stop for
// the snapshot. The weights and optimizer states stay unchanged through the next iteration's
// forward and backward passes, so each device's shard is copied into host memory under them, and
// only the next optimizer step, which would overwrite them, waits for the copy. From host memory
// the shard is flushed level by level in the background: to the node's NVMe, then (target: storage)
// from there to the storage servers. The checkpoint counts once the last level has it.
#include "sim/core/registry.hpp"
#include "sim/training/checkpoint.hpp"

namespace hetsim::policies {
namespace {

using training::CheckpointPlace;

class MultiLevelCheckpoint final : public training::CheckpointPolicy {
 public:
  explicit MultiLevelCheckpoint(const config::Node& cfg) : CheckpointPolicy(cfg), target_(read_target(cfg, "nvme")) {}
  std::vector<training::CheckpointCopy> copies() const override {
    std::vector<training::CheckpointCopy> c{{CheckpointPlace::device, CheckpointPlace::host, false, true}};
    if (target_ == CheckpointPlace::host) return c;
    c.push_back({CheckpointPlace::host, CheckpointPlace::nvme, false});
    if (target_ == CheckpointPlace::storage) c.push_back({CheckpointPlace::nvme, CheckpointPlace::storage, false});
    return c;
  }

 private:
  CheckpointPlace target_;
};

}  // namespace
HETSIM_REGISTER(training::CheckpointPolicy, MultiLevelCheckpoint, "multi_level",
                "DataStates-LLM: lazy snapshot to host under the next passes, then NVMe, then storage, in the background");
}  // namespace hetsim::policies
