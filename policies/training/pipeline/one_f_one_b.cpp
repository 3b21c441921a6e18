// 1F1B, "PipeDream-Flush" (Narayanan et al., "Memory-Efficient Pipeline-Parallel DNN Training",
// ICML'21, §3; Megatron-LM's default, SC'21 §2.2.1): rank s runs min(p-s-1, m) warm-up forwards,
// then alternates one forward and one backward, then drains the remaining backwards. The bubble is
// GPipe's, (p-1)/m, but rank s holds at most min(p-s, m) microbatches' activations instead of m.
#include <algorithm>

#include "sim/core/registry.hpp"
#include "sim/training/pipeline_schedule.hpp"

namespace hetsim::policies {
namespace {

using training::PassKind;
using training::PipelineOp;

class OneFOneB final : public training::PipelineSchedule {
 public:
  explicit OneFOneB(const config::Node&) {}

  std::vector<std::vector<PipelineOp>> order(const training::PipelineShape& shape) const override {
    const int p = shape.stages, m = shape.microbatches;
    std::vector<std::vector<PipelineOp>> out(p);
    for (int s = 0; s < p; ++s) {
      auto& rank = out[s];
      const int warmup = std::min(p - s - 1, m);
      for (int mb = 0; mb < warmup; ++mb) rank.push_back({PassKind::forward, mb, 0});
      for (int i = 0; i < m - warmup; ++i) {
        rank.push_back({PassKind::forward, warmup + i, 0});
        rank.push_back({PassKind::backward, i, 0});
      }
      for (int mb = m - warmup; mb < m; ++mb) rank.push_back({PassKind::backward, mb, 0});
    }
    return out;
  }
  bool splits_backward() const override { return false; }
};

}  // namespace
HETSIM_REGISTER(training::PipelineSchedule, OneFOneB, "1f1b",
                "1F1B (PipeDream-Flush): warm-up forwards, one forward one backward, cool-down");
}  // namespace hetsim::policies
