// Exponential (memoryless) failures: every GPU fails by each cause at a constant rate, so the
// job's failures form one Poisson process at gpus x (sum of the causes' rates), each failure's
// cause drawn in proportion to its rate. The model behind Young's and Daly's intervals.
#include "sim/core/registry.hpp"
#include "sim/training/failure_process.hpp"

namespace hetsim::policies {
namespace {

using training::Failure;

class ExponentialFailures final : public training::FailureProcess {
 public:
  explicit ExponentialFailures(const config::Node& cfg) : rates_(training::load_failure_rates(cfg)) {}

  void start(int gpus, Rng rng) override {
    rng_ = rng;
    rate_ = rates_.per_gpu_hour() * gpus / 3600.0;
    now_ = 0;
  }
  std::optional<Failure> next() override {
    now_ += rng_.exponential(rate_);
    // The cause, in proportion to its share of the rate.
    double pick = rng_.uniform() * rates_.per_gpu_hour();
    int cause = 0;
    for (; cause + 1 < static_cast<int>(rates_.causes.size()); ++cause) {
      pick -= rates_.causes[static_cast<std::size_t>(cause)].per_gpu_hour;
      if (pick < 0) break;
    }
    return Failure{now_, cause};
  }
  const std::vector<training::FailureCause>& causes() const override { return rates_.causes; }
  double mtbf(int gpus) const override { return 3600.0 / (rates_.per_gpu_hour() * gpus); }

 private:
  training::FailureRates rates_;
  Rng rng_{0, "failures"};
  double rate_ = 0, now_ = 0;
};

}  // namespace
HETSIM_REGISTER(training::FailureProcess, ExponentialFailures, "exponential",
                "constant per-GPU rates by cause: Poisson failures of the job");
}  // namespace hetsim::policies
