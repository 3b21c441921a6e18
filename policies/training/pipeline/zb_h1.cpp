// ZB-H1 (Qi et al., "Zero Bubble Pipeline Parallelism", ICLR'24, §3.1, Figure 3): 1F1B with the
// backward split into B (input gradient, which the previous stage waits for) and W (weight
// gradient, which nobody waits for). Forwards and B run in 1F1B's order, so activations peak at
// 1F1B's min(p-s, m); rank s postpones its first s W passes (the last rank the most: its B's start
// every upstream backward) and runs one after each later B, the postponed ones filling the
// cool-down. With m >= p the bubble is (p-1)(T_F + T_B - T_W) instead of 1F1B's
// (p-1)(T_F + T_B + T_W) when T_W <= T_F, T_B: about a third of it with equal passes.
#include <algorithm>

#include "sim/core/registry.hpp"
#include "sim/training/pipeline_schedule.hpp"

namespace hetsim::policies {
namespace {

using training::PassKind;
using training::PipelineOp;

class ZbH1 final : public training::PipelineSchedule {
 public:
  explicit ZbH1(const config::Node&) {}

  std::vector<std::vector<PipelineOp>> order(const training::PipelineShape& shape) const override {
    const int p = shape.stages, m = shape.microbatches;
    std::vector<std::vector<PipelineOp>> out(p);
    for (int s = 0; s < p; ++s) {
      auto& rank = out[s];
      int next_w = 0;
      auto weight = [&] { rank.push_back({PassKind::backward_weight, next_w++, 0}); };
      const int warmup = std::min(p - s - 1, m);
      for (int mb = 0; mb < warmup; ++mb) rank.push_back({PassKind::forward, mb, 0});
      for (int i = 0; i < m - warmup; ++i) {
        rank.push_back({PassKind::forward, warmup + i, 0});
        rank.push_back({PassKind::backward_input, i, 0});
        if (i >= s) weight();  // the first s W's wait for the cool-down
      }
      // Cool-down: each B waits for the next stage's B; a postponed W fills the gap after it.
      for (int mb = m - warmup; mb < m; ++mb) {
        rank.push_back({PassKind::backward_input, mb, 0});
        weight();
      }
      while (next_w < m) weight();
    }
    return out;
  }
  bool splits_backward() const override { return true; }
};

}  // namespace
HETSIM_REGISTER(training::PipelineSchedule, ZbH1, "zb_h1",
                "ZB-H1 zero-bubble: 1F1B with backward split, weight gradients filling the cool-down");
}  // namespace hetsim::policies
