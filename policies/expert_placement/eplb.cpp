// Load-balanced placement with redundant experts, after DeepSeek's EPLB (deepseek-ai/EPLB; DeepSeek-V3
// technical report §3.4: 32 redundant experts in prefill, chosen from the observed loads). First the
// `redundant_experts` extra copies go, one at a time, to the expert with the highest load per copy;
// a copy takes an equal part of its expert's tokens. Then the copies, heaviest first, fill the
// least-loaded rank that has a free slot and no copy of the same expert yet. Every rank gets
// (E + redundant) / ep slots, so that must divide; each redundant copy costs its rank one expert's
// weights. The loads are the gating policy's shares, known in advance (EPLB uses a history of them).
#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "sim/core/registry.hpp"
#include "sim/serving/expert_placement.hpp"

namespace hetsim::policies {
namespace {

class EplbPlacement final : public ExpertPlacement {
 public:
  explicit EplbPlacement(const config::Node& node)
      : node_(node), redundant_(node.get<std::int64_t>("redundant_experts").default_to(0).in_range(0, 1 << 16)) {}

  models::ExpertSlots place(const std::vector<double>& shares, std::int64_t experts, int ranks) const override {
    const auto E = static_cast<std::size_t>(experts);
    if ((experts + redundant_) % ranks != 0)
      node_.fail_key("redundant_experts", std::to_string(redundant_),
                     fmt::format("expected experts + redundant_experts ({} + {}) to divide evenly over the {} expert-parallel "
                                 "ranks, e.g. {}",
                                 experts, redundant_, ranks, redundant_ + (ranks - (experts + redundant_) % ranks)));
    std::vector<double> load(E, 1.0 / static_cast<double>(E));
    if (!shares.empty()) load = shares;
    // Replicate: each extra copy to the expert with the most load per copy (ties: lowest id).
    std::vector<int> copies(E, 1);
    for (std::int64_t i = 0; i < redundant_; ++i) {
      std::size_t best = 0;
      for (std::size_t e = 1; e < E; ++e)
        if (load[e] / copies[e] > load[best] / copies[best]) best = e;
      ++copies[best];
    }
    struct Copy {
      std::size_t expert;
      double load;
    };
    std::vector<Copy> all;
    for (std::size_t e = 0; e < E; ++e)
      for (int c = 0; c < copies[e]; ++c) all.push_back({e, load[e] / copies[e]});
    std::stable_sort(all.begin(), all.end(), [](const Copy& a, const Copy& b) { return a.load > b.load; });
    // Pack: heaviest copy first onto the least-loaded rank with room (and, where possible, without
    // that expert already).
    const auto R = static_cast<std::size_t>(ranks);
    const std::size_t slots = all.size() / R;
    models::ExpertSlots p;
    p.ranks = ranks;
    p.redundant = redundant_;
    p.rank_slots.resize(R);
    std::vector<double> rank_load(R, 0.0);
    for (const Copy& c : all) {
      std::size_t pick = R;
      for (int pass = 0; pass < 2 && pick == R; ++pass) {
        for (std::size_t r = 0; r < R; ++r) {
          if (p.rank_slots[r].size() >= slots) continue;
          const bool holds = std::any_of(p.rank_slots[r].begin(), p.rank_slots[r].end(),
                                         [&](const models::ExpertSlots::Slot& s) { return s.expert == static_cast<std::int64_t>(c.expert); });
          if (pass == 0 && holds) continue;
          if (pick == R || rank_load[r] < rank_load[pick]) pick = r;
        }
      }
      p.rank_slots[pick].push_back({static_cast<std::int64_t>(c.expert), 1.0 / copies[c.expert]});
      rank_load[pick] += c.load;
    }
    return p;
  }

 private:
  config::Node node_;
  std::int64_t redundant_;
};

}  // namespace
HETSIM_REGISTER(ExpertPlacement, EplbPlacement, "eplb",
                "hot experts replicated (redundant_experts) and packed to balance the ranks' loads (DeepSeek EPLB)");
}  // namespace hetsim::policies
