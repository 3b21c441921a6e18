#include "sim/training/pipeline_schedule.hpp"

#include <fmt/format.h>

#include "sim/core/error.hpp"

namespace hetsim::training {

const char* to_string(PassKind kind) {
  switch (kind) {
    case PassKind::forward: return "F";
    case PassKind::backward: return "BW";
    case PassKind::backward_input: return "B";
    case PassKind::backward_weight: return "W";
  }
  return "?";
}

std::string to_string(const PipelineOp& op) {
  return fmt::format("{}(mb {}, chunk {})", to_string(op.kind), op.microbatch, op.chunk);
}

std::vector<RankOp> dependencies(const PipelineShape& shape, int rank, const PipelineOp& op) {
  const int k = model_stage(shape, rank, op.chunk);
  auto at_stage = [&](PassKind kind, int stage) {
    const StageLocation at = stage_location(shape, stage, op.chunk);
    return RankOp{at.rank, {kind, op.microbatch, at.chunk}};
  };
  std::vector<RankOp> out;
  switch (op.kind) {
    case PassKind::forward:
      if (k > 0) out.push_back(at_stage(PassKind::forward, k - 1));
      break;
    case PassKind::backward:
    case PassKind::backward_input:
      out.push_back(at_stage(PassKind::forward, k));
      if (k + 1 < shape.model_stages()) out.push_back(at_stage(op.kind, k + 1));
      break;
    case PassKind::backward_weight:
      out.push_back(at_stage(PassKind::backward_input, k));
      break;
  }
  return out;
}

void PipelineSchedule::check(const PipelineShape& shape) const {
  if (shape.stages < 1) throw InputError(fmt::format("pipeline stages = {}: expected at least 1", shape.stages));
  if (shape.microbatches < 1)
    throw InputError(fmt::format("pipeline microbatches = {}: expected at least 1", shape.microbatches));
  if (shape.virtual_stages != virtual_stages())
    throw InputError(fmt::format("pipeline virtual stages = {}: this schedule runs {} chunk(s) per rank",
                                 shape.virtual_stages, virtual_stages()));
}

}  // namespace hetsim::training
