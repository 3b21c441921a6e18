// DualPipeV (DeepSeek-AI's DualPipe repository, dualpipev.py: the "cut-in-half" form of DualPipe,
// DeepSeek-V3 Technical Report §3.2.1): the model in 2p stages placed in a V, rank s holding stage s
// (chunk 0) and stage 2p-1-s (chunk 1), so each micro-batch goes down the ranks and comes back up
// and rank 0 holds both the embedding and the head. Backward is split into B and W, and in the
// steady phase each rank alternates a forward of one chunk with a backward of the other, which
// DualPipe runs as one overlapped "F&B" pair so that one's all-to-alls hide under the other's
// compute (hetsim's overlap.ep_comm prices that; the passes themselves run one after the other).
// Unlike DualPipe it keeps one copy of the parameters: no gradient exchange between copies.
//
// Each rank's order follows the reference's eight phases (r the rank, p ranks, m micro-batches):
//   1. 2(p-r-1) x F0                         5. p-r-1 x (B1, F1, B0)
//   2. r+1 x (F0, F1)                        6. r+1 x (B1, B0), W deferred from the middle on
//   3. p-r-1 x (B1 with W deferred, W, F1)    7. p-r-1 x (W, B0 with W deferred)
//   4. m-2p+r+1 x (F0, B1, F1, B0)           8. r+1 x W
// where F0/F1/B0/B1 take the chunk's next micro-batch and W the oldest deferred weight gradient; a
// backward whose W is not deferred runs its W right after it. Like the reference it needs m >= 2p.
#include <fmt/format.h>

#include <array>
#include <deque>

#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"
#include "sim/training/pipeline_schedule.hpp"

namespace hetsim::policies {
namespace {

using training::PassKind;
using training::PipelineOp;

/// One rank's order under construction: each chunk's next forward and backward micro-batch, and
/// the weight gradients deferred so far.
class RankOrder {
 public:
  explicit RankOrder(std::vector<PipelineOp>& out) : out_(out) {}
  void forward(int chunk) { out_.push_back({PassKind::forward, next_forward_[chunk]++, chunk}); }
  void backward(int chunk, bool defer_weight = false) {
    const int mb = next_backward_[chunk]++;
    out_.push_back({PassKind::backward_input, mb, chunk});
    if (defer_weight) deferred_.push_back({PassKind::backward_weight, mb, chunk});
    else out_.push_back({PassKind::backward_weight, mb, chunk});
  }
  void weight() {
    if (deferred_.empty()) throw InvariantError("dualpipe_v: a weight pass with none deferred");
    out_.push_back(deferred_.front());
    deferred_.pop_front();
  }

 private:
  std::vector<PipelineOp>& out_;
  std::array<int, 2> next_forward_{}, next_backward_{};
  std::deque<PipelineOp> deferred_;
};

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

  std::vector<std::vector<PipelineOp>> order(const training::PipelineShape& shape) const override {
    const int p = shape.stages, m = shape.microbatches;
    std::vector<std::vector<PipelineOp>> out(static_cast<std::size_t>(p));
    for (int r = 0; r < p; ++r) {
      RankOrder rank(out[static_cast<std::size_t>(r)]);
      for (int i = 0; i < 2 * (p - r - 1); ++i) rank.forward(0);
      for (int i = 0; i < r + 1; ++i) {
        rank.forward(0);
        rank.forward(1);
      }
      for (int i = 0; i < p - r - 1; ++i) {
        rank.backward(1, true);
        rank.weight();
        rank.forward(1);
      }
      for (int i = 0; i < m - 2 * p + r + 1; ++i) {
        rank.forward(0);
        rank.backward(1);
        rank.forward(1);
        rank.backward(0);
      }
      for (int i = 0; i < p - r - 1; ++i) {
        rank.backward(1);
        rank.forward(1);
        rank.backward(0);
      }
      // The second half of the cool-down defers its weight gradients (odd ranks from the middle
      // pair's B1, even ranks from its B0), which the last two phases then fill in.
      const int pairs = r + 1;
      bool defer = false;
      for (int i = 0; i < pairs; ++i) {
        if (i == pairs / 2 && r % 2 == 1) defer = true;
        rank.backward(1, defer);
        if (i == pairs / 2 && r % 2 == 0) defer = true;
        rank.backward(0, defer);
      }
      for (int i = 0; i < p - r - 1; ++i) {
        rank.weight();
        rank.backward(0, true);
      }
      for (int i = 0; i < r + 1; ++i) rank.weight();
    }
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
