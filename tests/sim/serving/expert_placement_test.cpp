// Expert placement (policies.expert_placement): the linear policy prices exactly as the default
// placement; EPLB keeps every expert's tokens (its copies' fractions sum to 1), fills every rank's
// slots, never doubles an expert on a rank when it can avoid it, and with redundant copies lowers
// the busiest rank's rows under skewed gating; a redundancy that cannot divide over the ranks is a
// key-path error.
#include <catch2/catch.hpp>

#include <map>

#include "catalog_entries.hpp"
#include "models/moe.hpp"
#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"
#include "sim/serving/expert_gating.hpp"
#include "sim/serving/expert_placement.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {

models::ExpertSlots place(const std::string& yaml, const std::vector<double>& shares, std::int64_t experts, int ranks) {
  static std::vector<config::Document> docs;  // the policy keeps a handle on its config
  docs.push_back(config::Document::load_string("expert_placement: " + yaml + "\n", "scenario.yaml"));
  return Registry<policies::ExpertPlacement>::instance()
      .make(docs.back().root().child("expert_placement"), "linear")
      ->place(shares, experts, ranks);
}

std::vector<double> zipf(std::int64_t experts, double s) {
  static std::vector<config::Document> docs;
  docs.push_back(config::Document::load_string("moe_gating: {impl: zipf, s: " + std::to_string(s) + "}\n", "scenario.yaml"));
  return Registry<policies::ExpertGating>::instance().make(docs.back().root().child("moe_gating"), "balanced")->shares(experts, 7);
}

}  // namespace

TEST_CASE("expert placement: linear prices as the default placement", "[serving][moe][placement]") {
  auto m = test::catalog_model("deepseek-v3");  // 256 routed experts, top-8
  m.moe.expert_share = zipf(256, 1.0);
  const auto plain = models::busiest_expert_rank(m.moe, 3000, 32);
  m.moe.placements.push_back(place("{impl: linear}", m.moe.expert_share, 256, 32));
  const auto linear = models::busiest_expert_rank(m.moe, 3000, 32);
  CHECK(linear.rows == Approx(plain.rows).epsilon(1e-12));
  CHECK(linear.touched == Approx(plain.touched).epsilon(1e-12));
}

TEST_CASE("expert placement: EPLB conserves tokens, fills slots and balances the busiest rank", "[serving][moe][placement]") {
  auto m = test::catalog_model("deepseek-v3");
  m.moe.expert_share = zipf(256, 1.0);
  const double T = 3000, k = 8;
  const auto linear = models::busiest_expert_rank(m.moe, T, 32);
  for (int redundant : {0, 32, 64}) {
    INFO("redundant " << redundant);
    const auto p = place("{impl: eplb, redundant_experts: " + std::to_string(redundant) + "}", m.moe.expert_share, 256, 32);
    REQUIRE(p.rank_slots.size() == 32);
    std::map<std::int64_t, double> fraction;
    for (const auto& slots : p.rank_slots) {
      CHECK(slots.size() == static_cast<std::size_t>((256 + redundant) / 32));
      std::map<std::int64_t, int> here;
      for (const auto& s : slots) {
        fraction[s.expert] += s.fraction;
        CHECK(++here[s.expert] == 1);  // 32 ranks leave room to keep copies apart
      }
    }
    CHECK(fraction.size() == 256);
    for (const auto& [e, f] : fraction) CHECK(f == Approx(1.0));
    // Every routed row lands on some rank.
    double rows = 0;
    for (const auto& slots : p.rank_slots)
      for (const auto& s : slots) rows += T * k * m.moe.expert_share[static_cast<std::size_t>(s.expert)] * s.fraction;
    CHECK(rows == Approx(T * k));
    auto placed = m.moe;
    placed.placements = {p};
    const auto busiest = models::busiest_expert_rank(placed, T, 32);
    CHECK(busiest.rows <= linear.rows * (1 + 1e-12));
    CHECK(busiest.rows >= T * k / 32 * (1 - 1e-12));  // never below a perfect balance
    if (redundant == 32) CHECK(busiest.rows < 0.6 * linear.rows);
  }
  // Under balanced gating, replicas only split some experts' tokens: no rank gets more than its even share.
  m.moe.expert_share.clear();
  auto placed = m.moe;
  placed.placements = {place("{impl: eplb, redundant_experts: 32}", {}, 256, 32)};
  CHECK(models::busiest_expert_rank(placed, T, 32).rows <= T * k / 32 * (1 + 1e-9));
}

TEST_CASE("expert placement: a redundancy that does not divide over the ranks names the key", "[serving][moe][placement]") {
  try {
    place("{impl: eplb, redundant_experts: 30}", {}, 256, 32);
    FAIL("expected an error");
  } catch (const InputError& e) {
    CHECK_THAT(e.what(), Contains("expert_placement.redundant_experts") && Contains("30") && Contains("32"));
  }
}
