// GPipe (Huang et al., NeurIPS'19, §2.2): every rank runs the forwards of all m microbatches, then
// all their backwards (fused B+W). Bubble (p-1)/m as 1F1B, but each rank holds the activations of
// all m microbatches at the turn, which is what 1F1B was designed to cut.
#include "sim/core/registry.hpp"
#include "sim/training/pipeline_schedule.hpp"

namespace hetsim::policies {
namespace {

using training::PassKind;
using training::PipelineOp;

class GPipe final : public training::PipelineSchedule {
 public:
  explicit GPipe(const config::Node&) {}

  std::vector<std::vector<PipelineOp>> order(const training::PipelineShape& shape) const override {
    std::vector<std::vector<PipelineOp>> out(shape.stages);
    for (auto& rank : out) {
      for (int mb = 0; mb < shape.microbatches; ++mb) rank.push_back({PassKind::forward, mb, 0});
      // Backwards in microbatch order: the last stage can start B(0) first, so the order adds no
      // wait; the activations held peak at m either way.
      for (int mb = 0; mb < shape.microbatches; ++mb) rank.push_back({PassKind::backward, mb, 0});
    }
    return out;
  }
  bool splits_backward() const override { return false; }
};

}  // namespace
HETSIM_REGISTER(training::PipelineSchedule, GPipe, "gpipe", "GPipe: all forwards, then all backwards");
}  // namespace hetsim::policies
