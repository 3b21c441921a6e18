#pragma once
// Pipeline-parallel schedules (GPipe, 1F1B, interleaved 1F1B, zero-bubble): the interface the
// training ranks use and the one statement of which pass waits for which. A schedule only orders
// each rank's passes; when they run (durations, communication) is the engine's business
// (sim/training/pipeline_timing.hpp replays an order with fixed durations and free communication).
// No SimGrid here: the event engine consumes these orders.
#include <cstdint>
#include <string>
#include <vector>

namespace hetsim::training {

/// One pass of one microbatch through one model chunk.
enum class PassKind : std::uint8_t {
  forward,
  backward,         ///< input and weight gradients fused (schedules that do not split backward)
  backward_input,   ///< B: gradient w.r.t. the chunk's input, what the previous stage waits for
  backward_weight,  ///< W: gradient w.r.t. the chunk's weights, needed only by the optimizer step
};
const char* to_string(PassKind kind);

/// A pass as a rank runs it; `chunk` is the virtual stage index on that rank (0..v-1).
struct PipelineOp {
  PassKind kind = PassKind::forward;
  int microbatch = 0;
  int chunk = 0;
  friend bool operator==(const PipelineOp&, const PipelineOp&) = default;
};
std::string to_string(const PipelineOp& op);  ///< e.g. "B(mb 3, chunk 1)"

/// p ranks, m microbatches per iteration, v model chunks per rank (p·v model stages in all).
struct PipelineShape {
  int stages = 1;
  int microbatches = 1;
  int virtual_stages = 1;
  /// Two chunks per rank placed in a V (DualPipeV): chunk 0 of rank s is model stage s, chunk 1 is
  /// stage 2p-1-s, so a microbatch goes down the ranks and comes back up, turning on the last rank.
  bool v_shape = false;
  /// Two copies of a p-stage model fed from both ends (DualPipe): chunk 0 of rank s is model stage
  /// s, chunk 1 is stage p-1-s. The first half of the microbatches runs down the ranks through
  /// chunk 0 only, the second half up through chunk 1 only: a microbatch's chunk is its direction.
  /// virtual_stages stays 1 (p model stages); each rank holds chunks() = 2.
  bool bidirectional = false;
  int model_stages() const { return stages * virtual_stages; }
  /// Model chunks each rank holds (and runs passes of).
  int chunks() const { return bidirectional ? 2 : virtual_stages; }
  /// Microbatches that pass through each chunk of a rank per iteration.
  int microbatches_per_chunk() const { return bidirectional ? microbatches / 2 : microbatches; }
  /// The chunk microbatch `mb` runs on every rank of a bidirectional pipeline (its direction).
  int direction(int mb) const { return bidirectional && mb >= microbatches / 2 ? 1 : 0; }
};

/// Model stage of `chunk` on `rank`: chunks are dealt round-robin over the ranks (Narayanan et al.,
/// SC'21 §2.2: rank s holds stages s, s+p, s+2p, ...), so v = 1 gives stage = rank; in a V,
/// chunk 1 counts back up from the last rank, and in a bidirectional pipeline from the first.
inline int model_stage(const PipelineShape& shape, int rank, int chunk) {
  if (shape.v_shape && chunk == 1) return 2 * shape.stages - 1 - rank;
  if (shape.bidirectional) return chunk == 1 ? shape.stages - 1 - rank : rank;
  return chunk * shape.stages + rank;
}
/// Where model stage `stage` runs: the inverse of model_stage. A bidirectional pipeline holds each
/// stage twice: `direction` (the microbatch's chunk) picks the copy; other shapes ignore it.
struct StageLocation {
  int rank = 0;
  int chunk = 0;
};
inline StageLocation stage_location(const PipelineShape& shape, int stage, int direction = 0) {
  const int p = shape.stages;
  if (shape.bidirectional) return direction == 1 ? StageLocation{p - 1 - stage, 1} : StageLocation{stage, 0};
  if (shape.v_shape && stage >= p) return {2 * p - 1 - stage, 1};
  return {stage % p, stage / p};
}

/// An op placed on its rank.
struct RankOp {
  int rank = 0;
  PipelineOp op;
  friend bool operator==(const RankOp&, const RankOp&) = default;
};

/// The passes `op` on `rank` waits for, the only place the pipeline's data dependencies are stated:
///   F(mb, k) after F(mb, k-1)            (activations from the previous stage);
///   B(mb, k) after B(mb, k+1), F(mb, k)  (output gradient from the next stage, own activations);
///   fused backward likewise, on fused backwards of the next stage;
///   W(mb, k) after B(mb, k)              (the weight gradient needs the output gradient B received).
/// k is the model stage; stage k lives on rank k % p as chunk k / p (stage_location: in a V, on
/// rank 2p-1-k as chunk 1 for k >= p; bidirectional, in the copy of the op's chunk).
std::vector<RankOp> dependencies(const PipelineShape& shape, int rank, const PipelineOp& op);

class PipelineSchedule {
 public:
  static constexpr const char* kKind = "pipeline schedule";
  virtual ~PipelineSchedule() = default;
  /// Per rank, the order its passes run. Call check(shape) first.
  virtual std::vector<std::vector<PipelineOp>> order(const PipelineShape& shape) const = 0;
  /// Whether backward is split into backward_input and backward_weight (else fused `backward`).
  virtual bool splits_backward() const = 0;
  /// Model chunks per rank, from the schedule's configuration.
  virtual int virtual_stages() const { return 1; }
  /// Whether its two chunks per rank are placed in a V (PipelineShape::v_shape).
  virtual bool v_shape() const { return false; }
  /// Whether it runs two copies of the model fed from both ends (PipelineShape::bidirectional).
  virtual bool bidirectional() const { return false; }
  /// InputError naming the violated constraint. The base checks p >= 1, m >= 1 and that the shape's
  /// virtual stages are this schedule's.
  virtual void check(const PipelineShape& shape) const;
};

}  // namespace hetsim::training
