#pragma once
// Shared prompt prefixes for synthetic workloads (system prompts, few-shot templates, RAG
// documents): `groups` distinct prefixes, each of a length drawn once per run; a share of the
// requests (`fraction`) start with one, chosen uniformly or by Zipf popularity. The request's drawn
// prompt follows its prefix, and its content ids describe the prefix only, so a prefix cache can
// reuse the prefix and never the rest.
//
//   shared_prefix: {groups: 16, tokens: 2048, fraction: 0.9, popularity: zipf, zipf_s: 1.1}
#include <cstdint>
#include <optional>
#include <vector>

#include "sim/core/config.hpp"
#include "sim/core/request.hpp"
#include "sim/core/rng.hpp"
#include "workload/length_distribution.hpp"
#include "workload/popularity.hpp"

namespace hetsim::workload {

class SharedPrefixes {
 public:
  /// Tokens per content id of a prefix.
  static constexpr std::int32_t kIdTokens = 64;
  /// workload.shared_prefix, if the section has one.
  static std::optional<SharedPrefixes> parse(const config::Node& workload);

  /// The prefixes of one run: each group's length, drawn from the run's seed.
  struct Drawn {
    std::vector<std::int64_t> tokens;  ///< per group
  };
  Drawn draw(std::uint64_t seed) const;
  /// Gives `r` a prefix, or not, drawing from `rng`: its prompt grows by the prefix's tokens and
  /// its content ids describe them.
  void apply(Request& r, Rng& rng, const Drawn& drawn) const;

 private:
  std::int64_t groups_ = 1;
  LengthDistribution tokens_;
  double fraction_ = 1;
  Popularity popularity_;  ///< of groups 0..groups-1
};

}  // namespace hetsim::workload
