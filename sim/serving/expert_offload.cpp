#include "sim/serving/expert_offload.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace hetsim::serving {

std::vector<bool> hottest_experts(const models::MoeSpec& moe, std::int64_t cached) {
  const auto E = static_cast<std::size_t>(moe.experts);
  std::vector<std::size_t> order(E);
  std::iota(order.begin(), order.end(), std::size_t{0});
  if (!moe.expert_share.empty())
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return moe.expert_share[a] > moe.expert_share[b]; });
  std::vector<bool> is_cached(E, false);
  for (std::size_t i = 0; i < static_cast<std::size_t>(cached) && i < E; ++i) is_cached[order[i]] = true;
  return is_cached;
}

double expert_load_bytes(const models::ModelSpec& m, const ExpertOffload& o, double tokens, int tp) {
  const double E = static_cast<double>(m.moe.experts), k = static_cast<double>(m.moe.experts_per_token);
  double missed = 0;  // expected uncached experts the step's tokens touch
  for (std::size_t e = 0; e < o.is_cached.size(); ++e) {
    if (o.is_cached[e]) continue;
    const double share = m.moe.expert_share.empty() ? 1 / E : m.moe.expert_share[e];
    const double pick = std::min(1.0, k * share);
    missed += pick >= 1 ? 1.0 : -std::expm1(std::max(1.0, tokens) * std::log1p(-pick));
  }
  return missed * m.routed_expert_bytes(tp);
}

double expert_load_time(const models::ModelSpec& m, const ExpertOffload& o, double tokens, int tp) {
  const double bytes = expert_load_bytes(m, o, tokens, tp);
  if (bytes <= 0) return 0;
  const double layers = static_cast<double>(m.moe.moe_layers(m.num_hidden_layers));
  return layers * (bytes / o.link.bandwidth + o.link.latency);
}

double host_expert_bytes(const models::ModelSpec& m, const ExpertOffload& o, int tp) {
  const double uncached = static_cast<double>(std::count(o.is_cached.begin(), o.is_cached.end(), false));
  return uncached * m.routed_expert_bytes(tp) * static_cast<double>(m.moe.moe_layers(m.num_hidden_layers));
}

}  // namespace hetsim::serving
