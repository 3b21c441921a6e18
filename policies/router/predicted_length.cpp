// Output-length-aware routing: the router predicts each request's output length (S3, Jin et al.
// NeurIPS'23, and the workload-aware router of Jain et al., arXiv 2408.13510, predict it from the
// prompt) and sends the request to the fitting instance with the least predicted work outstanding,
// the sum of prompt + predicted output tokens of what it sent there and has not yet ended.
// The predictor is the true length times log-normal noise of `sigma` (default 0.5; 0 = an
// oracle), drawn from the run's seed, so the value of better predictions can be swept.
#include <cmath>
#include <unordered_map>
#include <vector>

#include "sim/core/registry.hpp"
#include "sim/core/rng.hpp"
#include "sim/serving/router.hpp"

namespace hetsim::policies {
namespace {

class PredictedLength final : public Router {
 public:
  explicit PredictedLength(const config::Node& cfg) : sigma_(cfg.get<double>("sigma").default_to(0.5).in_range(0.0, 10.0)) {}
  void seed(std::uint64_t seed) override { rng_ = Rng(seed, "router.predicted_length"); }
  bool observes_ends() const override { return true; }

  std::size_t route(const Request& req, std::span<const ReplicaLoad> replicas) override {
    if (work_.size() != replicas.size()) work_.resize(replicas.size(), 0.0);
    const double noise = sigma_ > 0 ? std::exp(sigma_ * rng_.normal()) : 1.0;
    const double work = static_cast<double>(req.prompt_tokens) + static_cast<double>(req.output_tokens) * noise;
    std::size_t best = replicas.size();
    for (std::size_t i = 0; i < replicas.size(); ++i)
      if (replicas[i].can_fit && (best == replicas.size() || work_[i] < work_[best])) best = i;
    if (best == replicas.size()) return 0;
    work_[best] += work;
    sent_[req.id] = {best, work};
    return best;
  }

  void on_end(std::int64_t id) override {
    const auto it = sent_.find(id);
    if (it == sent_.end()) return;  // rejected before routing, or dropped
    work_[it->second.first] -= it->second.second;
    sent_.erase(it);
  }

 private:
  double sigma_;
  Rng rng_{1, "router.predicted_length"};
  std::vector<double> work_;  ///< per instance: predicted tokens of what was sent there and has not ended
  std::unordered_map<std::int64_t, std::pair<std::size_t, double>> sent_;  ///< in flight: instance and predicted work
};

}  // namespace
HETSIM_REGISTER(Router, PredictedLength, "predicted_length",
                "least predicted outstanding work (prompt + noisy predicted output tokens), from a log-normal predictor");
}  // namespace hetsim::policies
