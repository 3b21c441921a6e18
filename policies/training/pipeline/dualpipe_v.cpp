// DualPipeV (DeepSeek-AI's DualPipe repository, dualpipev.py: the "cut-in-half" form of DualPipe,
// DeepSeek-V3 Technical Report §3.2.1): the model in 2p stages placed in a V, rank s holding stage s
// (chunk 0) and stage 2p-1-s (chunk 1), so each micro-batch goes down the ranks and comes back up
// and rank 0 holds both the embedding and the head. Backward is split into B and W, and in the
// steady phase each rank alternates a forward of one chunk with a backward of the other, which
// DualPipe runs as one overlapped "F&B" pair so that one's all-to-alls hide under the other's
// compute (hetsim's overlap.ep_comm prices that; the passes themselves run one after the other).
// Unlike DualPipe it keeps one copy of the parameters: no gradient exchange between copies.
//
// Each rank's order is the reference's eight phases (dualpipe_phases.hpp) with rank r at distance
// r from the V's entry. Like the reference it needs m >= 2p.
#include <fmt/format.h>

#include "policies/training/pipeline/dualpipe_phases.hpp"
#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"
#include "sim/training/pipeline_schedule.hpp"

namespace hetsim::policies {
namespace {

class DualPipeV final : public training::PipelineSchedule {
 public:
  explicit DualPipeV(const config::Node&) {}

  void check(const training::PipelineShape& shape) const override {
    PipelineSchedule::check(shape);
    if (shape.microbatches < 2 * shape.stages)
      throw InputError(fmt::format("dualpipe_v: microbatches = {} with pipeline stages = {}: expected at least 2 x "
                                   "stages = {} (DualPipeV's steady phase needs them)",
                                   shape.microbatches, shape.stages, 2 * shape.stages));
  }

  std::vector<std::vector<training::PipelineOp>> order(const training::PipelineShape& shape) const override {
    const int p = shape.stages, m = shape.microbatches;
    std::vector<std::vector<training::PipelineOp>> out;
    for (int r = 0; r < p; ++r) out.push_back(dualpipe_phases(p, r, m));
    return out;
  }
  bool splits_backward() const override { return true; }
  int virtual_stages() const override { return 2; }
  bool v_shape() const override { return true; }
};

}  // namespace
HETSIM_REGISTER(training::PipelineSchedule, DualPipeV, "dualpipe_v",
                "DualPipeV (DeepSeek): two chunks per rank in a V, forward of one chunk paired with backward of the other, "
                "weight gradients filling the cool-down");
}  // namespace hetsim::policies
