#include "sim/scenario/training_resilience.hpp"

#include <algorithm>
#include <cmath>

namespace hetsim::sim {

training::ResilienceInputs resilience_inputs(const TrainingScenario& sc, const TrainingRecords& records,
                                             const TrainingSummary& summary) {
  training::ResilienceInputs in;
  const CheckpointRecord& ck = records.checkpoint;
  in.iteration = summary.clean_step_time;
  // What a checkpoint costs the job: the stall, plus what its background copies add to the iterations
  // they overlap.
  in.stall = ck.stall + summary.checkpoint_interference;
  in.persist = ck.persist();
  in.gpus = sc.gpus();
  in.iterations = std::max<std::int64_t>(
      1, static_cast<std::int64_t>(std::ceil(sc.job.train_tokens / static_cast<double>(sc.job.tokens_per_iteration()))));
  in.recovery = sc.recovery;
  in.recovery.reload = ck.restore;
  in.interval = sc.checkpoint->every() > 0 ? sc.checkpoint->every()
                                           : training::young_iterations(in.stall, sc.failures->mtbf(in.gpus), in.iteration);
  return in;
}

std::optional<training::ResilienceReport> project_resilience(const TrainingScenario& sc, const TrainingRecords& records,
                                                             const TrainingSummary& summary) {
  if (!sc.failures) return std::nullopt;
  return training::project_resilience(resilience_inputs(sc, records, summary), *sc.failures, sc.seed, sc.resilience_trials);
}

}  // namespace hetsim::sim
