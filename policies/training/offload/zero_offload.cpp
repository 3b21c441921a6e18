// ZeRO-Offload (Ren et al., USENIX ATC'21): each device's optimizer shard (fp32 master weights and
// Adam's moments) lives in host memory and is updated there by the CPU. Per step the device's
// reduced gradient shard goes down over PCIe, the CPU updates, and the updated weights come back
// up; under ZeRO 1/2 the data-parallel all-gather then follows as without offload. The host
// states spread over DRAM and CXL by the placement (policies.optimizer_offload.placement).
#include "sim/core/registry.hpp"
#include "sim/training/optimizer_offload.hpp"

namespace hetsim::policies {
namespace {

using training::CheckpointPlace;
using training::OffloadOp;
using Kind = OffloadOp::Kind;
using Payload = OffloadOp::Payload;

class ZeroOffload final : public training::OptimizerOffloadPolicy {
 public:
  explicit ZeroOffload(const config::Node& cfg) : OptimizerOffloadPolicy(cfg) {}
  CheckpointPlace states_place() const override { return CheckpointPlace::host; }
  training::OffloadStep step() const override {
    return {{{{{Kind::copy, CheckpointPlace::device, CheckpointPlace::host, Payload::gradients}}},
             {{{Kind::cpu_update}}},
             {{{Kind::copy, CheckpointPlace::host, CheckpointPlace::device, Payload::weights}}}}};
  }
};

}  // namespace
HETSIM_REGISTER(training::OptimizerOffloadPolicy, ZeroOffload, "zero_offload",
                "optimizer states in host memory (DRAM/CXL), Adam on the CPU; gradients down, weights up over PCIe");
}  // namespace hetsim::policies
