// Cache-affinity routing with two choices (DualMap, arXiv 2602.06502): a request's prompt prefix
// is hashed twice, naming two candidate replicas; the less loaded of the two takes it, so requests
// that share a prefix land where it is cached while each prefix still has a second home for load.
// When even the chosen candidate is far more loaded than the emptiest replica, the request goes
// to the emptiest instead (DualMap falls back when the SLO is at risk; the test here is SGLang
// cache-aware router's, balance_abs_threshold and balance_rel_threshold, on outstanding requests).
//   prefix_tokens  leading prompt tokens that name the candidates (default 1024: in the Mooncake
//                  conversation trace, the system prompt and the conversation's first block)
//   balance_abs    fall back when chosen - emptiest > this many requests (default 32) ...
//   balance_rel    ... and chosen > this x emptiest (default 1.5)
// A prompt without content ids is keyed by its request id: two random candidates.
#include <vector>

#include "policies/router/prompt_prefix.hpp"
#include "sim/core/registry.hpp"
#include "sim/serving/router.hpp"

namespace hetsim::policies {
namespace {

class CacheAffinity final : public Router {
 public:
  explicit CacheAffinity(const config::Node& cfg)
      : prefix_tokens_(cfg.get<std::int64_t>("prefix_tokens").default_to(1024).in_range(1, 1 << 24)),
        balance_abs_(cfg.get<std::int64_t>("balance_abs").default_to(32).in_range(0, 1 << 30)),
        balance_rel_(cfg.get<double>("balance_rel").default_to(1.5).in_range(1.0, 1e6)) {}

  std::size_t route(const Request& req, std::span<const ReplicaLoad> replicas) override {
    fitting_.clear();
    for (std::size_t i = 0; i < replicas.size(); ++i)
      if (replicas[i].can_fit) fitting_.push_back(i);
    if (fitting_.size() < 2) return fitting_.empty() ? 0 : fitting_.front();
    const std::uint64_t key = prefix_key(req);
    const std::uint64_t n = fitting_.size();
    const std::uint64_t a = splitmix64(key ^ 0x5bd1e9955bd1e995ULL) % n;
    std::uint64_t b = splitmix64(key ^ 0xc2b2ae3d27d4eb4fULL) % (n - 1);
    if (b >= a) ++b;  // two distinct candidates
    const std::size_t first = fitting_[a], second = fitting_[b];
    const std::size_t chosen = replicas[second].outstanding < replicas[first].outstanding ? second : first;
    const std::size_t emptiest = least_outstanding(replicas);
    const std::int64_t load = replicas[chosen].outstanding, least = replicas[emptiest].outstanding;
    const bool at_risk = load - least > balance_abs_ && static_cast<double>(load) > balance_rel_ * static_cast<double>(least);
    return at_risk ? emptiest : chosen;
  }

 private:
  /// The hash of the prompt's first prefix_tokens tokens (whole content units; at least one).
  std::uint64_t prefix_key(const Request& req) {
    const std::int64_t unit = req.hash_block_tokens > 0 ? req.hash_block_tokens : 1;
    prompt_prefix::hashes(req, std::max<std::int64_t>(1, (prefix_tokens_ + unit - 1) / unit), hashes_);
    return hashes_.empty() ? splitmix64(static_cast<std::uint64_t>(req.id)) : hashes_.back();
  }

  std::int64_t prefix_tokens_;
  std::int64_t balance_abs_;
  double balance_rel_;
  std::vector<std::size_t> fitting_;    ///< scratch: the fitting replicas' indices
  std::vector<std::uint64_t> hashes_;   ///< scratch: the prompt's prefix hashes
};

}  // namespace
HETSIM_REGISTER(Router, CacheAffinity, "cache_affinity",
                "DualMap: the prompt prefix names two replicas, the less loaded wins; least-loaded when both are far busier");
}  // namespace hetsim::policies
