#pragma once
// What failures and checkpoints cost a whole training run: a job-level discrete-event projection
// over the run's wall-clock time (days to months), driven by the iteration time and checkpoint
// costs the training engine measured on the platform. The job computes iterations, stops every
// `interval` iterations for the checkpoint's blocking part, and a checkpoint counts once its
// background part has persisted; a failure rolls the job back to the last counted checkpoint, then
// costs detection, a node from the spare pool (or waiting for a repair) when the cause takes a node
// out, the job's restart and the checkpoint's reload. Failures keep arriving during recovery (a
// failure there starts it over). Every second of the run goes to one bucket: useful compute,
// lost compute (redone after a rollback), checkpoint stalls, detection, waiting for nodes, restart,
// reload. No SimGrid here: the inputs are plain numbers.
#include <cstdint>
#include <string>
#include <vector>

#include "sim/training/failure_process.hpp"

namespace hetsim::training {

struct RecoveryCosts {
  double detection = 0;  ///< seconds from a failure until the job is known to have stopped
  double restart = 0;    ///< seconds to relaunch the job (scheduling, process start, NCCL init)
  double reload = 0;     ///< seconds to read the last checkpoint back into the devices
  int spare_nodes = -1;  ///< nodes standing by to replace failed ones; -1: always one at hand
  double repair = 0;     ///< seconds until a node taken out returns (to the spare pool)
};

struct ResilienceInputs {
  double iteration = 0;      ///< seconds per iteration, checkpoint-free
  double stall = 0;          ///< seconds training waits per checkpoint
  double persist = 0;        ///< seconds after the stall until the checkpoint counts (background part)
  std::int64_t iterations = 0;  ///< iterations to train
  std::int64_t interval = 1;    ///< iterations between checkpoints
  int gpus = 1;
  RecoveryCosts recovery;
};

/// One interruption of a trial, for the failure timeline.
struct FailureEvent {
  double time = 0;            ///< seconds since the run started
  int cause = 0;
  double lost = 0;            ///< compute seconds rolled back
  double downtime = 0;        ///< seconds until the job computed again (detection to reload)
  std::int64_t restored = 0;  ///< iteration the job resumed from
};

/// Where one trial's wall-clock time went, seconds; they add up to `wall`.
struct ResilienceTrial {
  double wall = 0;
  double useful = 0, lost = 0, checkpoint = 0, detection = 0, waiting = 0, restart = 0, reload = 0;
  int failures = 0;
  std::int64_t checkpoints = 0;
  bool finished = true;  ///< false: stopped at the wall-clock cap without reaching the last iteration
  std::vector<double> cause_seconds;  ///< per cause: lost compute plus the downtime it caused
  std::vector<FailureEvent> events;   ///< with keep_events
  double goodput() const { return wall > 0 ? useful / wall : 0; }
};

/// Runs one trial: `process` started for `in.gpus` GPUs with `rng`.
ResilienceTrial simulate_resilience(const ResilienceInputs& in, FailureProcess& process, Rng rng, bool keep_events);

/// Young (CACM 1974): the first-order optimal compute time between checkpoints, sqrt(2 stall mtbf).
double young_interval(double stall, double mtbf);
/// Young's interval in whole iterations of `iteration` seconds (at least one).
std::int64_t young_iterations(double stall, double mtbf, double iteration);
/// Daly (FGCS 2006): the higher-order optimum, for stall < 2 mtbf (else mtbf).
double daly_interval(double stall, double mtbf);
/// The exact expected wall time of `in` under Poisson failures at `rate` per second, every recovery
/// costing R = detection + restart + reload (spares always at hand) and restarted by a failure
/// during it, checkpoints counting when their stall ends (persist 0): each segment of work w takes
/// e^{rate R} (e^{rate w} - 1) / rate (Daly, FGCS 2006). What the projection must reproduce.
double expected_wall_exponential(const ResilienceInputs& in, double rate);

/// Mean and 95% confidence half-width of trials' values.
struct Estimate {
  double mean = 0, half_width = 0;
};
Estimate estimate(const std::vector<double>& values);

/// The projection of a run: `trials` trials (trial i on stream "resilience" of seed + i) at the
/// configured interval, and the same trials over a sweep of intervals around Young's.
struct ResilienceReport {
  ResilienceInputs inputs;
  double mtbf = 0;                        ///< seconds, the job's
  double young = 0, daly = 0;             ///< seconds of compute between checkpoints
  std::int64_t young_iterations = 0;      ///< Young's interval in whole iterations
  std::vector<FailureCause> causes;
  int trials = 0;
  Estimate goodput, wall, failures;
  ResilienceTrial mean;  ///< buckets and cause_seconds averaged over the trials
  ResilienceTrial first; ///< trial 0, with its events
  bool all_finished = true;
  struct SweepPoint {
    std::int64_t interval = 0;
    Estimate goodput;
  };
  std::vector<SweepPoint> sweep;
  std::int64_t best_interval = 0;  ///< the sweep point of highest mean goodput
};
ResilienceReport project_resilience(const ResilienceInputs& in, FailureProcess& process, std::uint64_t seed, int trials);

}  // namespace hetsim::training
