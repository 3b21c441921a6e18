#include "policies/training/pipeline/dualpipe_phases.hpp"

#include <array>
#include <deque>

#include "sim/core/error.hpp"

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
    if (deferred_.empty()) throw InvariantError("dualpipe: a weight pass with none deferred");
    out_.push_back(deferred_.front());
    deferred_.pop_front();
  }

 private:
  std::vector<PipelineOp>& out_;
  std::array<int, 2> next_forward_{}, next_backward_{};
  std::deque<PipelineOp> deferred_;
};

}  // namespace

std::vector<PipelineOp> dualpipe_phases(int p, int r, int m) {
  std::vector<PipelineOp> out;
  RankOrder rank(out);
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
  // The second half of the cool-down defers its weight gradients (odd ranks from the middle pair's
  // B1, even ranks from its B0), which the last two phases then fill in.
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
  return out;
}

}  // namespace hetsim::policies
