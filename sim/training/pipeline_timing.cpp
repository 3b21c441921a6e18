#include "sim/training/pipeline_timing.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>

#include "sim/core/error.hpp"

namespace hetsim::training {

double PassDurations::of(PassKind kind) const {
  switch (kind) {
    case PassKind::forward: return forward;
    case PassKind::backward: return backward_input + backward_weight;
    case PassKind::backward_input: return backward_input;
    case PassKind::backward_weight: return backward_weight;
  }
  return 0.0;
}

namespace {

/// End times of ops run so far, indexed by (kind, microbatch, model stage); negative = not run.
class EndTimes {
 public:
  explicit EndTimes(const PipelineShape& shape)
      : shape_(shape), ends_(std::size_t{4} * shape.microbatches * shape.model_stages(), -1.0) {}

  double& at(const RankOp& o) {
    const auto stage = static_cast<std::size_t>(model_stage(shape_, o.rank, o.op.chunk));
    const auto idx = (static_cast<std::size_t>(o.op.kind) * shape_.microbatches + o.op.microbatch) *
                         shape_.model_stages() + stage;
    return ends_[idx];
  }

 private:
  const PipelineShape& shape_;
  std::vector<double> ends_;
};

void check_in_shape(const PipelineShape& shape, int rank, const PipelineOp& op) {
  if (op.microbatch < 0 || op.microbatch >= shape.microbatches || op.chunk < 0 || op.chunk >= shape.chunks())
    throw InvariantError(fmt::format("pipeline order: rank {} runs {} outside {} microbatches x {} chunks", rank,
                                     to_string(op), shape.microbatches, shape.chunks()));
  if (shape.bidirectional && op.chunk != shape.direction(op.microbatch))
    throw InvariantError(fmt::format("pipeline order: rank {} runs {} in the other direction's chunk (microbatches "
                                     "0-{} run in chunk 0, the rest in chunk 1)",
                                     rank, to_string(op), shape.microbatches / 2 - 1));
}

}  // namespace

PipelineTiming replay(const PipelineShape& shape, const std::vector<std::vector<PipelineOp>>& order,
                      const PassDurations& durations) {
  const int p = shape.stages;
  if (static_cast<int>(order.size()) != p)
    throw InvariantError(fmt::format("pipeline order has {} ranks, shape {}", order.size(), p));
  PipelineTiming out;
  out.ranks.resize(p);
  out.peak_activations.assign(p, 0);
  out.peak_chunk_activations.assign(p, std::vector<int>(static_cast<std::size_t>(shape.chunks()), 0));
  std::vector<std::vector<int>> held_chunk = out.peak_chunk_activations;
  std::vector<std::size_t> next(p, 0);
  std::vector<double> free_at(p, 0.0);
  std::vector<int> held(p, 0);
  EndTimes ends(shape);
  std::size_t remaining = 0;
  for (int s = 0; s < p; ++s) {
    remaining += order[s].size();
    for (const auto& op : order[s]) check_in_shape(shape, s, op);
  }
  // Sweeps the ranks, running each one's next ops while their dependencies have ended. Start times
  // do not depend on the sweep order (each is a max over ends already fixed), so this is exact.
  while (remaining > 0) {
    bool progressed = false;
    for (int s = 0; s < p; ++s) {
      while (next[s] < order[s].size()) {
        const PipelineOp& op = order[s][next[s]];
        double start = free_at[s];
        bool ready = true;
        for (const RankOp& dep : dependencies(shape, s, op)) {
          const double end = ends.at(dep);
          if (end < 0.0) {
            ready = false;
            break;
          }
          start = std::max(start, end);
        }
        if (!ready) break;
        double& own_end = ends.at({s, op});
        if (own_end >= 0.0)
          throw InvariantError(fmt::format("pipeline order: rank {} runs {} twice", s, to_string(op)));
        own_end = start + durations.of(op.kind);
        free_at[s] = own_end;
        out.ranks[s].push_back({op, start, own_end});
        int& chunk_held = held_chunk[s][static_cast<std::size_t>(op.chunk)];
        int& chunk_peak = out.peak_chunk_activations[s][static_cast<std::size_t>(op.chunk)];
        if (op.kind == PassKind::forward) {
          out.peak_activations[s] = std::max(out.peak_activations[s], ++held[s]);
          chunk_peak = std::max(chunk_peak, ++chunk_held);
        } else if (op.kind != PassKind::backward_weight) {
          --held[s];
          --chunk_held;
        }
        ++next[s];
        --remaining;
        progressed = true;
      }
    }
    if (!progressed) {
      std::string stuck;
      for (int s = 0; s < p; ++s) {
        if (next[s] == order[s].size()) continue;
        const PipelineOp& op = order[s][next[s]];
        std::string waits;
        for (const RankOp& dep : dependencies(shape, s, op))
          if (ends.at(dep) < 0.0)
            waits += fmt::format("{}{} on rank {}", waits.empty() ? "" : ", ", to_string(dep.op), dep.rank);
        stuck += fmt::format("{}rank {} waits forever at {} for {}", stuck.empty() ? "" : "; ", s, to_string(op), waits);
      }
      throw InvariantError("pipeline order cannot complete: " + stuck);
    }
  }
  for (double t : free_at) out.makespan = std::max(out.makespan, t);
  return out;
}

}  // namespace hetsim::training
