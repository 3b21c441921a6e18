// DualPipe (DeepSeek-AI's DualPipe repository, dualpipe.py; DeepSeek-V3 Technical Report §3.2.1):
// two copies of a p-stage model, rank s holding stage s (chunk 0) and stage p-1-s (chunk 1).
// Microbatches are fed from both ends at once: the first half runs down the ranks through the
// chunk-0 copies, the second half up through the chunk-1 copies, so ranks 0 and p-1 each hold an
// embedding and an LM head. Each rank follows the eight phases of dualpipe_phases.hpp at its
// distance from the nearer end, its local chunk 0 being the direction that enters at that end
// (the reference's phase flip for the second half of the ranks). Each copy accumulates the
// gradients of its half of the microbatches; the engine reduces the two copies of each stage
// together with their data-parallel replicas. Forward-backward pairs run one after the other; the
// all-to-alls they overlap are overlap.ep_comm's. Like the reference it needs an even number of
// ranks and of microbatches, at least 2p of them.
#include <fmt/format.h>

#include "policies/training/pipeline/dualpipe_phases.hpp"
#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"
#include "sim/training/pipeline_schedule.hpp"

namespace hetsim::policies {
namespace {

class DualPipe final : public training::PipelineSchedule {
 public:
  explicit DualPipe(const config::Node&) {}

  void check(const training::PipelineShape& shape) const override {
    PipelineSchedule::check(shape);
    if (!shape.bidirectional) throw InvariantError("dualpipe: the pipeline shape is not bidirectional");
    if (shape.stages < 2 || shape.stages % 2 != 0)
      throw InputError(fmt::format("dualpipe: pipeline stages = {}: expected an even number (the two directions "
                                   "meet between the two halves of the ranks)", shape.stages));
    if (shape.microbatches % 2 != 0 || shape.microbatches < 2 * shape.stages)
      throw InputError(fmt::format("dualpipe: microbatches = {} with pipeline stages = {}: expected an even number, "
                                   "at least 2 x stages = {} (half per direction; the steady phase needs them)",
                                   shape.microbatches, shape.stages, 2 * shape.stages));
  }

  std::vector<std::vector<training::PipelineOp>> order(const training::PipelineShape& shape) const override {
    const int p = shape.stages, half = p / 2, per_direction = shape.microbatches / 2;
    std::vector<std::vector<training::PipelineOp>> out(static_cast<std::size_t>(p));
    for (int r = 0; r < p; ++r) {
      const int flip = r >= half ? 1 : 0;
      for (training::PipelineOp op : dualpipe_phases(half, std::min(r, p - 1 - r), per_direction)) {
        op.chunk ^= flip;                          // the local phase's direction
        op.microbatch += op.chunk * per_direction;  // the second direction's microbatches come second
        out[static_cast<std::size_t>(r)].push_back(op);
      }
    }
    return out;
  }
  bool splits_backward() const override { return true; }
  bool bidirectional() const override { return true; }
};

}  // namespace
HETSIM_REGISTER(training::PipelineSchedule, DualPipe, "dualpipe",
                "DualPipe (DeepSeek): two model copies fed from both ends, forward of one direction paired with "
                "backward of the other, weight gradients filling the cool-down");
}  // namespace hetsim::policies
