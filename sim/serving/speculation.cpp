#include "sim/serving/speculation.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "sim/core/registry.hpp"
#include "sim/core/rng.hpp"

namespace hetsim::serving {

std::int64_t Speculation::accepted(std::int64_t drafts, double u) const {
  std::int64_t a = 0;
  while (a < drafts && u < acceptance[static_cast<std::size_t>(a)]) ++a;
  return a;
}

double Speculation::draw(std::int64_t id, std::int64_t generated) const {
  const std::uint64_t h = splitmix64(splitmix64(seed ^ 0x5bd1e995ULL) ^ static_cast<std::uint64_t>(id)) ^
                          splitmix64(static_cast<std::uint64_t>(generated) + 0x9e3779b97f4a7c15ULL);
  return static_cast<double>(splitmix64(h) >> 11) * 0x1.0p-53;  // 53 random bits in [0, 1)
}

double Speculation::mean_accepted() const { return std::accumulate(acceptance.begin(), acceptance.end(), 0.0); }

std::vector<double> geometric_acceptance(int k, double mean_accepted) {
  // sum_{i=1..k} a^i grows monotonically in a on [0, 1]: bisect for the a that gives the mean.
  auto sum = [k](double a) {
    double s = 0, p = 1;
    for (int i = 0; i < k; ++i) s += (p *= a);
    return s;
  };
  double lo = 0, hi = 1;
  for (int i = 0; i < 100; ++i) {
    const double mid = (lo + hi) / 2;
    (sum(mid) < mean_accepted ? lo : hi) = mid;
  }
  std::vector<double> profile(static_cast<std::size_t>(k));
  double p = 1;
  for (double& v : profile) v = (p *= (lo + hi) / 2);
  return profile;
}

std::shared_ptr<const Speculation> parse_speculation(const config::Node& policies, const models::ModelSpec& target,
                                                     int tp, std::uint64_t seed) {
  const auto node = policies.maybe("speculative");
  if (!node) return nullptr;
  auto spec = std::make_shared<Speculation>();
  spec->seed = seed;
  spec->drafter = node->get<std::string>("impl").required().value();
  const auto drafter = Registry<policies::Drafter>::instance().make(*node, "");
  spec->k = node->get<int>("k").default_to(4).in_range(0, 16);
  if (spec->k == 0) return nullptr;  // k: 0 turns speculation off (a sweep's baseline)
  const auto k = static_cast<std::size_t>(spec->k);
  if (node->has("acceptance") && node->has("acceptance_length"))
    node->fail_key("acceptance_length", node->child("acceptance_length").shown(),
                   "give acceptance (per position) or acceptance_length (mean tokens per step), not both");
  if (node->has("acceptance")) {
    const config::Node list = node->child("acceptance");
    const std::vector<config::Node> items = list.is_sequence() ? list.items() : std::vector<config::Node>{};
    if (items.size() < k)
      node->fail_key("acceptance", list.shown(),
                     fmt::format("expected a list of at least k = {} probabilities, P(at least i drafts accepted) "
                                 "for i = 1..k",
                                 k));
    double last = 1;
    for (std::size_t i = 0; i < k; ++i) {
      double v = -1;
      if (!items[i].is_scalar() || !config::detail::convert(items[i].scalar(), v) || !(v >= 0 && v <= last))
        node->fail_key("acceptance", list.shown(),
                       fmt::format("entry {} ({}) must be a probability no larger than the one before it: "
                                   "P(at least i accepted) cannot grow with i",
                                   i + 1, items[i].shown()));
      spec->acceptance.push_back(last = v);
    }
  } else if (node->has("acceptance_length")) {
    // Mean tokens a sequence gains per step, the target's own token included (vLLM's and
    // Spec-Bench's "mean acceptance length").
    const double length = node->get<double>("acceptance_length").in_range(1.0, static_cast<double>(k) + 1);
    spec->acceptance = geometric_acceptance(spec->k, length - 1);
  } else {
    std::vector<double> profile = drafter->default_acceptance();
    if (profile.empty())
      node->fail(fmt::format("speculative decoding with impl '{}' needs acceptance (P(at least i drafts accepted), "
                             "i = 1..k) or acceptance_length (mean tokens per step)",
                             spec->drafter));
    // Past the published positions, the last position's ratio continues geometrically.
    const double ratio = profile.size() > 1 ? profile.back() / profile[profile.size() - 2] : profile.back();
    while (profile.size() < k) profile.push_back(profile.back() * ratio);
    profile.resize(k);
    spec->acceptance = profile;
  }
  spec->draft = drafter->draft_model(target);
  spec->weight_bytes_per_device = drafter->weight_bytes_per_device(target, tp);
  spec->kv_bytes_per_token = drafter->kv_bytes_per_token(target, tp);
  return spec;
}

}  // namespace hetsim::serving
