// Duplex (Yun et al., MICRO 2024): an H100-class xPU whose HBM3 stacks carry Logic-PIM, processing
// units on each stack's logic die that read the DRAM at 4x the HBM bandwidth with 8 FLOPs per byte.
// Logic-PIM takes the low-Op/B layers of decode: attention of decoding sequences (in mixed steps
// too) and the MoE layers of decode-only steps; the xPU runs the rest, and the two never run at the
// same time (§IV, §VII-A). The KV cache and the experts stay where they are, in the xPU's own memory:
// nothing crosses a link. `experts: co_process` is Duplex+PE (§V-B): the experts with the fewest
// tokens run in Logic-PIM while the xPU runs the rest, in decode-only and mixed steps.
#include "sim/core/registry.hpp"
#include "sim/serving/op_offload.hpp"

namespace hetsim::policies {
namespace {

class DuplexOffload final : public OpOffload {
 public:
  explicit DuplexOffload(const config::Node&) {}
  // Five stacks per GPU: 80 GB per device of 16 GB stacks (§VI).
  Defaults defaults() const override {
    return {.device = "duplex-logic-pim", .count = 5, .link = "offload_host", .pipelined = false, .in_gpu_memory = true,
            .experts = "decode"};
  }
};

}  // namespace
HETSIM_REGISTER(OpOffload, DuplexOffload, "duplex",
                "decode attention and decode-only MoE experts in Logic-PIM on the GPUs' own HBM stacks (Duplex)");
}  // namespace hetsim::policies
