// Weibull failures: each GPU's failures of each cause form a renewal process whose times between
// failures are Weibull with the configured shape and the cause's mean (1 / rate); a failed unit
// restarts its clock (replaced or repaired as new). Shape < 1 is infant mortality, a hazard that
// falls with age (the usual fit to hardware failure logs, e.g. Schroeder and Gibson, DSN'06, shape
// 0.7-0.8 for times between node failures); shape 1 is the exponential process.
#include <cmath>
#include <queue>

#include "sim/core/registry.hpp"
#include "sim/training/failure_process.hpp"

namespace hetsim::policies {
namespace {

using training::Failure;

class WeibullFailures final : public training::FailureProcess {
 public:
  explicit WeibullFailures(const config::Node& cfg)
      : rates_(training::load_failure_rates(cfg)), shape_(cfg.get<double>("shape").in_range(0.1, 10.0).value()) {}

  void start(int gpus, Rng rng) override {
    rng_ = rng;
    queue_ = {};
    // One renewal process per (GPU, cause); all start new at time 0.
    for (int g = 0; g < gpus; ++g)
      for (std::size_t c = 0; c < rates_.causes.size(); ++c)
        if (rates_.causes[c].per_gpu_hour > 0) queue_.push({draw(c, 0), static_cast<int>(c)});
  }
  std::optional<Failure> next() override {
    if (queue_.empty()) return std::nullopt;
    const Failure f = queue_.top();
    queue_.pop();
    queue_.push({draw(static_cast<std::size_t>(f.cause), f.time), f.cause});
    return f;
  }
  const std::vector<training::FailureCause>& causes() const override { return rates_.causes; }
  double mtbf(int gpus) const override { return 3600.0 / (rates_.per_gpu_hour() * gpus); }

 private:
  /// A failure time after `from`: scale chosen so the mean is the cause's 1 / rate.
  double draw(std::size_t cause, double from) {
    const double mean = 3600.0 / rates_.causes[cause].per_gpu_hour;
    const double scale = mean / std::tgamma(1.0 + 1.0 / shape_);
    return from + scale * std::pow(-std::log(rng_.uniform_open0()), 1.0 / shape_);
  }
  struct Later {
    bool operator()(const Failure& a, const Failure& b) const { return a.time > b.time; }
  };

  training::FailureRates rates_;
  double shape_;
  Rng rng_{0, "failures"};
  std::priority_queue<Failure, std::vector<Failure>, Later> queue_;
};

}  // namespace
HETSIM_REGISTER(training::FailureProcess, WeibullFailures, "weibull",
                "per-GPU renewal processes with Weibull times between failures (shape < 1: infant mortality)");
}  // namespace hetsim::policies
