#pragma once
// Speculative decoding (policies.speculative): each step, a drafter proposes up to k tokens for
// every decoding sequence, and the target model verifies them all in the same step as extra
// queries (Leviathan et al. 2023; EAGLE, Li et al. 2024; vLLM's spec decode). A sequence then gains
// the accepted drafts plus one token of the target's own. Acceptance is given as vLLM reports it
// per position: acceptance[i-1] = P(at least i drafts accepted), non-increasing; or as a mean
// acceptance length (tokens per step, the target's token included), from which a geometric profile
// is derived.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/model.hpp"
#include "sim/core/config.hpp"

namespace hetsim::policies {

/// What proposes the drafts (policies.speculative.impl), one file each in policies/speculative/.
class Drafter {
 public:
  static constexpr const char* kKind = "drafter";
  virtual ~Drafter() = default;
  /// The model whose decode passes propose the drafts, one pass per draft token.
  virtual models::ModelSpec draft_model(const models::ModelSpec& target) const = 0;
  /// Bytes of weights the drafter adds to each device of a degree-`tp` instance.
  virtual double weight_bytes_per_device(const models::ModelSpec& target, int tp) const = 0;
  /// KV bytes per token the drafter adds to each device (its own layers' cache).
  virtual double kv_bytes_per_token(const models::ModelSpec& target, int tp) const = 0;
  /// Acceptance when the scenario gives none (P(at least i accepted), i = 1..); empty: required.
  virtual std::vector<double> default_acceptance() const { return {}; }
  /// Where default_acceptance() comes from, for the resolved scenario and the README.
  virtual std::string acceptance_source() const { return {}; }
};

}  // namespace hetsim::policies

namespace hetsim::serving {

struct Speculation {
  int k = 0;  ///< draft tokens per step and sequence; 0: speculation off
  /// P(at least i drafts accepted), i = 1..k: non-increasing, in [0, 1].
  std::vector<double> acceptance;
  std::string drafter;          ///< the drafter's impl name
  models::ModelSpec draft;      ///< priced for each draft pass
  double weight_bytes_per_device = 0;
  double kv_bytes_per_token = 0;
  std::uint64_t seed = 0;       ///< the run's seed: draws depend on (seed, sequence, position) only

  bool enabled() const { return k > 0; }
  /// Drafts accepted for a sequence that proposed `drafts` (<= k) drafts, the draw `u` in [0, 1):
  /// the number of leading positions i with u < acceptance[i-1] (the profile is nested, so one
  /// uniform draw gives the exact distribution).
  std::int64_t accepted(std::int64_t drafts, double u) const;
  /// The draw for sequence `id` verifying at its `generated`-th output token: a hash of the seed,
  /// the id and the position, so a run's acceptances do not depend on batching or replicas.
  double draw(std::int64_t id, std::int64_t generated) const;
  /// Expected accepted drafts per step with all k drafts: the sum of acceptance.
  double mean_accepted() const;
};

/// Reads policies.speculative (absent, or k: 0: speculation off) for `target` on degree-`tp` instances.
std::shared_ptr<const Speculation> parse_speculation(const config::Node& policies, const models::ModelSpec& target,
                                                     int tp, std::uint64_t seed);
/// The geometric profile a^1, ..., a^k whose sum is `mean_accepted` (in [0, k]).
std::vector<double> geometric_acceptance(int k, double mean_accepted);

}  // namespace hetsim::serving
