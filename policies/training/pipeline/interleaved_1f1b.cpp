// Interleaved 1F1B (Narayanan et al., "Efficient Large-Scale Language Model Training on GPU
// Clusters Using Megatron-LM", SC'21, §2.2.2, Figure 4): each rank holds v model chunks (chunk c of
// rank s is model stage c·p + s) and runs 1F1B over the m·v (microbatch, chunk) units, taken in
// groups of p microbatches per chunk. The bubble shrinks to (p-1)/(v·m) at the price of v times the
// pipeline communication. The order is Megatron-LM's forward_backward_pipelining_with_interleaving:
//   unit k runs microbatch (k / (p·v))·p + k % p on chunk (k % (p·v)) / p (backward: chunks reversed);
//   rank s warms up with 2(p-s-1) + (v-1)p forwards (all m·v when m == p), then one forward one
//   backward, then the remaining backwards.
// Like Megatron, it needs m to be a multiple of p (the groups of p microbatches must be whole).
#include <fmt/format.h>

#include <algorithm>

#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"
#include "sim/training/pipeline_schedule.hpp"

namespace hetsim::policies {
namespace {

using training::PassKind;
using training::PipelineOp;

class InterleavedOneFOneB final : public training::PipelineSchedule {
 public:
  explicit InterleavedOneFOneB(const config::Node& cfg)
      : virtual_stages_(cfg.get<int>("virtual_stages").required().in_range(2, 1024)) {}

  void check(const training::PipelineShape& shape) const override {
    PipelineSchedule::check(shape);
    if (shape.microbatches % shape.stages != 0)
      throw InputError(fmt::format(
          "interleaved_1f1b: microbatches = {} is not a multiple of pipeline stages = {} (Megatron-LM's interleaved "
          "schedule runs the microbatches in groups of one per stage)",
          shape.microbatches, shape.stages));
  }

  std::vector<std::vector<PipelineOp>> order(const training::PipelineShape& shape) const override {
    const int p = shape.stages, m = shape.microbatches, v = virtual_stages_;
    const int units = m * v;
    auto microbatch = [&](int k) { return (k / (p * v)) * p + k % p; };
    auto chunk = [&](int k, bool forward) {
      const int c = (k % (p * v)) / p;
      return forward ? c : v - 1 - c;
    };
    std::vector<std::vector<PipelineOp>> out(p);
    for (int s = 0; s < p; ++s) {
      auto& rank = out[s];
      const int warmup = m == p ? units : std::min(2 * (p - s - 1) + (v - 1) * p, units);
      auto forward = [&](int k) { rank.push_back({PassKind::forward, microbatch(k), chunk(k, true)}); };
      auto backward = [&](int k) { rank.push_back({PassKind::backward, microbatch(k), chunk(k, false)}); };
      for (int k = 0; k < warmup; ++k) forward(k);
      for (int k = 0; k < units - warmup; ++k) {
        forward(warmup + k);
        backward(k);
      }
      for (int k = units - warmup; k < units; ++k) backward(k);
    }
    return out;
  }
  bool splits_backward() const override { return false; }
  int virtual_stages() const override { return virtual_stages_; }

 private:
  int virtual_stages_;
};

}  // namespace
HETSIM_REGISTER(training::PipelineSchedule, InterleavedOneFOneB, "interleaved_1f1b",
                "Megatron-LM interleaved 1F1B with v model chunks per rank (virtual_stages)");
}  // namespace hetsim::policies
