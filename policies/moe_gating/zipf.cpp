// Zipf-skewed gating: the expert of popularity rank r (1 = hottest) receives a share proportional
// to 1 / r^s. Which expert holds which rank is a permutation drawn from the run's seed, so hot
// experts land on ranks as they would with a model's real, id-independent popularity. s = 0 is
// balanced. Real expert loads vary with the workload, which is why DeepSeek's EPLB replicates
// heavy experts to balance GPUs (deepseek-ai/EPLB README).
#include <cmath>
#include <numeric>

#include "sim/core/registry.hpp"
#include "sim/core/rng.hpp"
#include "sim/serving/expert_gating.hpp"

namespace hetsim::policies {
namespace {

class ZipfGating final : public ExpertGating {
 public:
  explicit ZipfGating(const config::Node& node) : s_(node.get<double>("s").default_to(1.0).in_range(0.0, 10.0)) {}
  std::vector<double> shares(std::int64_t experts, std::uint64_t seed) const override {
    const auto n = static_cast<std::size_t>(experts);
    std::vector<std::size_t> rank(n);
    std::iota(rank.begin(), rank.end(), std::size_t{0});
    Rng rng(seed, "moe_gating");
    for (std::size_t i = n; i-- > 1;)  // Fisher-Yates
      std::swap(rank[i], rank[static_cast<std::size_t>(rng.uniform_int(0, static_cast<std::int64_t>(i)))]);
    std::vector<double> share(n);
    double total = 0;
    for (std::size_t e = 0; e < n; ++e) total += share[e] = std::pow(static_cast<double>(rank[e] + 1), -s_);
    for (double& x : share) x /= total;
    return share;
  }

 private:
  double s_;
};

}  // namespace
HETSIM_REGISTER(ExpertGating, ZipfGating, "zipf", "expert popularity falls as 1 / rank^s, ranks drawn from the seed");
}  // namespace hetsim::policies
