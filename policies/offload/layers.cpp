// Placement by layer range: llama.cpp's -ngl (n_gpu_layers) and Hugging Face Accelerate's
// device_map with CPU layers, for a model larger than the GPU's memory. The host CPU runs the first
// layers from its DRAM, their KV cache there too, and the GPU the last `gpu_layers`; one token's
// decode pays both sides in turn, so the host's memory bandwidth sets the speed until nearly all
// layers are on the GPU (the "VRAM cliff" users meet). Large prompt batches copy the host layers'
// weights to the GPU instead (llama.cpp from 32 tokens: ggml-cuda's offload_op threshold), which
// the link's bandwidth then bounds. sim/serving/op_offload.hpp (LayerSplit) has the step model.
#include "sim/core/registry.hpp"
#include "sim/serving/op_offload.hpp"

namespace hetsim::policies {
namespace {

class LayerRangeOffload final : public OpOffload {
 public:
  explicit LayerRangeOffload(const config::Node&) {}
  Defaults defaults() const override {
    return {.device = "xeon-8480plus", .count = 1, .link = "gpu_host", .pipelined = false, .ops = {}, .by_layer = true,
            .platform_tier = "dram"};
  }
};

}  // namespace
HETSIM_REGISTER(OpOffload, LayerRangeOffload, "layers",
                "the first layers and their KV on the host CPU, the last gpu_layers on the GPU (llama.cpp -ngl)");
}  // namespace hetsim::policies
