// NEO (Jiang et al., "NEO: Saving GPU Memory Crisis with CPU Offloading for Online LLM Inference",
// MLSys 2025, arXiv 2411.01142): decode attention and its KV cache move to the host CPU and DRAM,
// reached over the GPU's PCIe link, so a small GPU holds only weights and activations and batches
// grow to what host memory holds; asymmetric pipelining overlaps the CPU's attention of one
// sub-batch with the GPU's layers of the other. The GPU keeps the KV its memory has room for and
// attends to it itself (gpu_kv). Simplified: that GPU-resident part is a share of each step's
// contexts, not a set of sequences, and NEO's scheduler's per-step balancing of the two sides (for
// latency) is not modelled.
#include "sim/core/registry.hpp"
#include "sim/serving/op_offload.hpp"

namespace hetsim::policies {
namespace {

class NeoOffload final : public OpOffload {
 public:
  explicit NeoOffload(const config::Node&) {}
  Defaults defaults() const override { return {.device = "xeon-8480plus", .count = 1, .link = "gpu_host", .pipelined = true, .gpu_kv = true, .platform_tier = "dram"}; }
};

}  // namespace
HETSIM_REGISTER(OpOffload, NeoOffload, "neo",
                "decode attention and the KV cache on the host CPU and DRAM over PCIe, pipelined with the GPU");
}  // namespace hetsim::policies
