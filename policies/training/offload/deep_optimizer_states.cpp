// Deep Optimizer States (Maurya et al., Middleware'24): the states stay in host memory, but a
// share of the update (`gpu_fraction`, the subgroups the GPU takes) runs on the GPU, its states
// streamed up and back over PCIe, while the CPU updates the rest at the same time. The GPU's share
// of the weights is already on the device; only the CPU's share comes back up.
#include "sim/core/registry.hpp"
#include "sim/training/optimizer_offload.hpp"

namespace hetsim::policies {
namespace {

using training::CheckpointPlace;
using training::OffloadOp;
using Kind = OffloadOp::Kind;
using Payload = OffloadOp::Payload;

class DeepOptimizerStates final : public training::OptimizerOffloadPolicy {
 public:
  explicit DeepOptimizerStates(const config::Node& cfg)
      : OptimizerOffloadPolicy(cfg), gpu_(cfg.get<double>("gpu_fraction").default_to(0.5).in_range(0.0, 1.0)) {}
  CheckpointPlace states_place() const override { return CheckpointPlace::host; }
  double gpu_fraction() const override { return gpu_; }
  training::OffloadStep step() const override {
    const double cpu = 1 - gpu_;
    const training::OffloadLane on_cpu{{Kind::cpu_update, {}, {}, {}, cpu}};
    const training::OffloadLane on_gpu{{Kind::copy, CheckpointPlace::host, CheckpointPlace::device, Payload::states, gpu_},
                                       {Kind::gpu_update, {}, {}, {}, gpu_},
                                       {Kind::copy, CheckpointPlace::device, CheckpointPlace::host, Payload::states, gpu_}};
    return {{{{{Kind::copy, CheckpointPlace::device, CheckpointPlace::host, Payload::gradients, cpu}}},
             {on_cpu, on_gpu},
             {{{Kind::copy, CheckpointPlace::host, CheckpointPlace::device, Payload::weights, cpu}}}}};
  }

 private:
  double gpu_;
};

}  // namespace
HETSIM_REGISTER(training::OptimizerOffloadPolicy, DeepOptimizerStates, "deep_optimizer_states",
                "states in host memory; gpu_fraction of the update on the GPU (states streamed), the rest on the CPU at once");
}  // namespace hetsim::policies
