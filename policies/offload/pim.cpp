// Processing-in-memory attention (Duplex, Yun et al., MICRO 2024; SK hynix AiM; Samsung HBM-PIM with
// its GEMV kernels): decode attention, a GEMV over a KV cache read once, runs inside the memory
// that holds the KV, at the PIM units' internal bandwidth; the GPU sends each layer's queries over
// each cube's memory bus and reads back the outputs. The host waits for the PIM (no pipelining: both use the
// same memory channels).
#include "sim/core/registry.hpp"
#include "sim/serving/op_offload.hpp"

namespace hetsim::policies {
namespace {

class PimOffload final : public OpOffload {
 public:
  explicit PimOffload(const config::Node&) {}
  // Four cubes per instance is a deployment choice, not a product figure: set count to the design studied.
  Defaults defaults() const override {
    return {.device = "samsung-hbm-pim", .count = 4, .link = "offload_host", .pipelined = false, .link_per_offload_device = true};
  }
};

}  // namespace
HETSIM_REGISTER(OpOffload, PimOffload, "pim",
                "decode attention inside processing-in-memory devices that hold the KV cache, over the memory bus");
}  // namespace hetsim::policies
