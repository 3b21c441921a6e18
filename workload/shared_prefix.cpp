#include "workload/shared_prefix.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "sim/core/error.hpp"

namespace hetsim::workload {

std::optional<SharedPrefixes> SharedPrefixes::parse(const config::Node& workload) {
  if (!workload.has("shared_prefix")) return std::nullopt;
  const config::Node cfg = workload.child("shared_prefix");
  SharedPrefixes p;
  p.groups_ = cfg.get<std::int64_t>("groups").in_range(1, 1 << 20);
  p.tokens_ = LengthDistribution::parse(cfg.child("tokens"));
  p.fraction_ = cfg.get<double>("fraction").default_to(1.0).in_range(0.0, 1.0);
  p.popularity_ = Popularity::parse(cfg, p.groups_);
  return p;
}

SharedPrefixes::Drawn SharedPrefixes::draw(std::uint64_t seed) const {
  Rng rng(seed, "workload.shared_prefix.tokens");
  Drawn d;
  // A prefix's content ids are kept per request: bounded like a conversation (2^20 tokens).
  constexpr std::int64_t kMaxPrefixTokens = std::int64_t{1} << 20;
  for (std::int64_t g = 0; g < groups_; ++g) {
    d.tokens.push_back(tokens_.sample(rng));
    if (d.tokens.back() > kMaxPrefixTokens)
      throw InputError(fmt::format("workload.shared_prefix.tokens: a prefix of {} tokens; expected at most {}", d.tokens.back(),
                                   kMaxPrefixTokens));
  }
  return d;
}

void SharedPrefixes::apply(Request& r, Rng& rng, const Drawn& drawn) const {
  // Two draws per request, whether or not it gets a prefix: the stream stays aligned.
  const bool shared = rng.uniform() < fraction_;
  const double u = rng.uniform();
  if (!shared) return;
  const auto g = static_cast<std::size_t>(popularity_.pick(u));
  const std::int64_t tokens = drawn.tokens[std::min(g, drawn.tokens.size() - 1)];
  r.prompt_tokens += tokens;
  r.hash_block_tokens = kIdTokens;
  r.hash_tokens = tokens;
  // Ids unique to the group and position: group g + 1 in the high half.
  const std::int64_t ids = (tokens + kIdTokens - 1) / kIdTokens;
  r.hash_ids.resize(static_cast<std::size_t>(ids));
  for (std::int64_t i = 0; i < ids; ++i) r.hash_ids[static_cast<std::size_t>(i)] = ((g + 1) << 32) | static_cast<std::uint64_t>(i);
}

}  // namespace hetsim::workload
