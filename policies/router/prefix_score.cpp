// Weighted-scorer routing, as llm-d's inference scheduler and the Gateway API Inference
// Extension's endpoint picker do it: every fitting replica gets
//   w_prefix x (prompt tokens found cached there / prompt tokens)
// + w_queue  x (max waiting - its waiting) / (max waiting - min waiting)   (1 when all are equal)
// + w_kv     x (1 - its KV utilisation)
// and the highest score wins (ties: drawn at random, as the max-score picker does).
//   mode: precise      the cached share is looked up in each replica's KV cache, as llm-d's
//                      precise prefix-cache scorer reads vLLM's KV events (default weights 2:1:1,
//                      llm-d's precise-prefix-cache-aware guide);
//   mode: approximate  the router remembers which prompt prefixes it sent where, in an LRU index
//                      per replica of `lru_tokens` tokens (default: the replica's KV capacity, as
//                      GIE's auto-tuned prefix plugin), and matches against that (default weights
//                      3:2:2, llm-d's default scheduler profile).
//   weights: {prefix, queue, kv_utilization}
// Queue depth and KV utilisation are the replica's last snapshot under policies.router.refresh.
#include <deque>
#include <unordered_map>
#include <vector>

#include "policies/router/prompt_prefix.hpp"
#include "sim/core/registry.hpp"
#include "sim/core/rng.hpp"
#include "sim/serving/router.hpp"

namespace hetsim::policies {
namespace {

class PrefixScore final : public Router {
 public:
  explicit PrefixScore(const config::Node& cfg)
      : precise_(cfg.get<std::string>("mode").default_to("precise").one_of({"precise", "approximate"}).value() == "precise") {
    const config::Node w = cfg.section("weights");
    w_prefix_ = w.get<double>("prefix").default_to(precise_ ? 2.0 : 3.0).in_range(0.0, 1e6);
    w_queue_ = w.get<double>("queue").default_to(precise_ ? 1.0 : 2.0).in_range(0.0, 1e6);
    w_kv_ = w.get<double>("kv_utilization").default_to(precise_ ? 1.0 : 2.0).in_range(0.0, 1e6);
    if (!precise_ && cfg.has("lru_tokens")) lru_tokens_ = cfg.get<std::int64_t>("lru_tokens").in_range(1, std::int64_t{1} << 40);
  }
  void seed(std::uint64_t seed) override { rng_ = Rng(seed, "router.prefix_score"); }
  bool reads_cached_prefix() const override { return precise_; }

  std::size_t route(const Request& req, std::span<const ReplicaLoad> replicas) override {
    if (!precise_) {
      if (index_.size() != replicas.size()) index_.resize(replicas.size());
      prompt_prefix::hashes(req, prompt_prefix::units(req), hashes_);
    }
    std::int64_t qmin = 0, qmax = 0;
    bool any = false;
    for (const ReplicaLoad& l : replicas) {
      if (!l.can_fit) continue;
      qmin = any ? std::min(qmin, l.waiting) : l.waiting;
      qmax = any ? std::max(qmax, l.waiting) : l.waiting;
      any = true;
    }
    const double prompt = static_cast<double>(std::max<std::int64_t>(1, req.prompt_tokens));
    double best = -1;
    ties_.clear();
    for (std::size_t i = 0; i < replicas.size(); ++i) {
      const ReplicaLoad& l = replicas[i];
      if (!l.can_fit) continue;
      const double cached = precise_ ? static_cast<double>(std::max<std::int64_t>(0, l.cached_tokens))
                                     : static_cast<double>(matched_units(i) * req.hash_block_tokens);
      const double queue = qmax == qmin ? 1.0 : static_cast<double>(qmax - l.waiting) / static_cast<double>(qmax - qmin);
      const double score = w_prefix_ * std::min(1.0, cached / prompt) + w_queue_ * queue + w_kv_ * (1.0 - kv_utilization(l));
      if (score > best) best = score, ties_.clear();
      if (score == best) ties_.push_back(i);
    }
    if (ties_.empty()) return 0;
    const std::size_t chosen =
        ties_.size() == 1 ? ties_.front()
                          : ties_[static_cast<std::size_t>(rng_.uniform_int(0, static_cast<std::int64_t>(ties_.size()) - 1))];
    if (!precise_) remember(chosen, replicas[chosen], req.hash_block_tokens);
    return chosen;
  }

 private:
  /// The router's memory of one replica: prefix hash -> when last sent there, and the sends in
  /// order (an entry whose time is no longer the hash's latest is stale and skipped on eviction).
  struct Lru {
    std::unordered_map<std::uint64_t, std::uint64_t> last;
    std::deque<std::pair<std::uint64_t, std::uint64_t>> order;  ///< (time, hash), oldest first
  };

  /// Leading prefix hashes of the current request that replica `i`'s index holds.
  std::int64_t matched_units(std::size_t i) const {
    std::int64_t n = 0;
    for (std::uint64_t h : hashes_) {
      if (!index_[i].last.contains(h)) break;
      ++n;
    }
    return n;
  }

  /// The request's prefix was sent to replica `i`: its hashes become the most recent there.
  void remember(std::size_t i, const ReplicaLoad& l, std::int64_t unit) {
    Lru& x = index_[i];
    const std::int64_t tokens = lru_tokens_ > 0 ? lru_tokens_ : l.kv_blocks * l.kv_block_size;
    const auto capacity = static_cast<std::size_t>(std::max<std::int64_t>(1, tokens / std::max<std::int64_t>(1, unit)));
    // Last unit first, so that the leading units are the most recent and a full index drops a
    // prompt's tail before its head (a prefix is only found from its start).
    for (auto it = hashes_.rbegin(); it != hashes_.rend(); ++it) {
      x.last[*it] = ++clock_;
      x.order.emplace_back(clock_, *it);
    }
    while (x.last.size() > capacity) {
      const auto [t, h] = x.order.front();
      x.order.pop_front();
      if (const auto it = x.last.find(h); it != x.last.end() && it->second == t) x.last.erase(it);
    }
    // Stale entries are dropped once they outnumber the live ones (memory stays O(capacity)).
    if (x.order.size() > 2 * x.last.size() + 64) {
      std::erase_if(x.order, [&](const auto& e) { return x.last.at(e.second) != e.first; });
    }
  }

  bool precise_;
  double w_prefix_ = 0, w_queue_ = 0, w_kv_ = 0;
  std::int64_t lru_tokens_ = 0;  ///< approximate: index size per replica in tokens (0: the replica's KV capacity)
  Rng rng_{1, "router.prefix_score"};
  std::uint64_t clock_ = 0;
  std::vector<Lru> index_;
  std::vector<std::uint64_t> hashes_;  ///< scratch: the request's prefix hashes
  std::vector<std::size_t> ties_;      ///< scratch: replicas with the best score
};

}  // namespace
HETSIM_REGISTER(Router, PrefixScore, "prefix_score",
                "llm-d / GIE weighted scoring of cached prefix, queue depth and KV utilisation (mode: precise | approximate)");
}  // namespace hetsim::policies
