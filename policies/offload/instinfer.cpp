// In-storage attention (InstInfer / InstAttention, Pan et al., HPCA 2025): decode attention and the
// whole KV cache move into computational storage drives. Each drive's engine reads the KV at its
// flash's internal bandwidth (8 channels, far above its PCIe 4.0 x4 link), and only each layer's
// queries, new K/V and outputs cross PCIe. Prefill attention stays on the GPU, which writes the
// prompt's KV to the drives. The GPU waits for the drive (no pipelining in the paper's FlexGen-based
// runtime); attention heads are split over the drives (§VI-E).
#include "sim/core/registry.hpp"
#include "sim/serving/op_offload.hpp"

namespace hetsim::policies {
namespace {

class InstInferOffload final : public OpOffload {
 public:
  explicit InstInferOffload(const config::Node&) {}
  // One drive per GPU, as the paper's main results (Fig. 14); its Fig. 15 uses two (`count: 2`).
  Defaults defaults() const override {
    return {.device = "instinfer-csd", .count = 1, .link = "offload_host", .pipelined = false, .link_per_offload_device = true,
            .platform_tier = "csd"};
  }
};

}  // namespace
HETSIM_REGISTER(OpOffload, InstInferOffload, "instinfer",
                "decode attention inside computational storage drives that hold the KV cache in flash");
}  // namespace hetsim::policies
