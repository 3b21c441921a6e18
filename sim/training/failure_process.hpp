#pragma once
// Failure processes of a training job, as policies (policies/training/failure/): when a component
// of the job's GPUs or their nodes next fails, and which cause it is. Rates are per GPU, by cause,
// from a failure-rate file (hw/failures/*.yaml) whose numbers cite a public failure study; a
// process draws from them (exponential, Weibull) or replays a recorded trace. No SimGrid here: the
// failure projection (sim/training/resilience) consumes the failures.
//
//   policies:
//     failures: {impl: exponential, rates: llama3-405b}        # or weibull (shape), or trace (file)
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sim/core/config.hpp"
#include "sim/core/rng.hpp"

namespace hetsim::training {

/// One cause of interruption and its rate.
struct FailureCause {
  std::string name;
  double per_gpu_hour = 0;     ///< interruptions per GPU-hour of the job
  bool replaces_node = false;  ///< the node leaves the job (hardware): a spare or its repair is needed
};

/// A failure-rate table: hw/failures/NAME.yaml or inline.
struct FailureRates {
  std::string name;
  std::string source;
  std::vector<FailureCause> causes;
  double per_gpu_hour() const;  ///< all causes together
};

/// Reads `rates` of a failure policy's configuration: a preset name under hw/failures/, or an inline
/// map {causes: [{name, per_gpu_hour | count, replaces_node}], observed: {gpus, days}}.
FailureRates load_failure_rates(const config::Node& policy);

struct Failure {
  double time = 0;  ///< seconds since the job started (wall clock, whatever the job was doing)
  int cause = 0;    ///< index into causes()
};

class FailureProcess {
 public:
  static constexpr const char* kKind = "failure process";
  virtual ~FailureProcess() = default;
  /// Starts a new history for a job of `gpus` GPUs; `rng` is the trial's stream.
  virtual void start(int gpus, Rng rng) = 0;
  /// The next failure after the previous one; nullopt when there are no more (a trace's end).
  virtual std::optional<Failure> next() = 0;
  virtual const std::vector<FailureCause>& causes() const = 0;
  /// Mean time between the job's failures at `gpus` GPUs, seconds (the M of Young's interval).
  virtual double mtbf(int gpus) const = 0;
};

}  // namespace hetsim::training
