// KV cache offloaded to an SSD (FlexGen, Sheng et al., ICML 2023, as InstInfer's baseline): the drive
// only stores the KV; every decode step the GPU reads the whole batch's KV back, layer by layer, over
// the drive's link (SSD -> host -> GPU, capped by the drive), and writes each new token's K/V to it.
// FlexGen overlaps the next layer's loads with the current layer's compute (its block schedule), which
// the two-sub-batch pipelining stands for.
#include "sim/core/registry.hpp"
#include "sim/serving/op_offload.hpp"

namespace hetsim::policies {
namespace {

class FlexGenKvOffload final : public OpOffload {
 public:
  explicit FlexGenKvOffload(const config::Node&) {}
  Defaults defaults() const override {
    return {.device = "samsung-980pro-2tb",
            .count = 1,
            .link = "offload_host",
            .pipelined = true,
            .link_per_offload_device = true,
            .ops = {},
            .platform_tier = "ssd"};
  }
};

}  // namespace
HETSIM_REGISTER(OpOffload, FlexGenKvOffload, "flexgen", "the KV cache on SSDs, read back by the GPUs' attention every step");
}  // namespace hetsim::policies
