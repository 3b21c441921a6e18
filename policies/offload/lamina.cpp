// Lamina (Chen et al., "Efficient and Economic Large Language Model Inference with Attention
// Offloading", arXiv 2405.01814): the attention of decode runs on memory-optimised devices (H20)
// that hold the whole KV cache, the rest of each layer on compute-optimised GPUs (H100), joined by
// the network; rotational (ping-pong) pipelining keeps both sides busy with two sub-batches. The
// paper's attention workers are H20 over 400 Gb/s NICs; it reports needing at most ~30 GB/s per GPU.
#include "sim/core/registry.hpp"
#include "sim/serving/op_offload.hpp"

namespace hetsim::policies {
namespace {

class LaminaOffload final : public OpOffload {
 public:
  explicit LaminaOffload(const config::Node&) {}
  Defaults defaults() const override { return {.device = "h20-96gb", .count = 1, .link = "nic", .pipelined = true}; }
};

}  // namespace
HETSIM_REGISTER(OpOffload, LaminaOffload, "lamina",
                "decode attention and the KV cache on memory-optimised GPUs over the network, ping-pong pipelined");
}  // namespace hetsim::policies
