// Sequence sharding, analytic: the context-parallel ring a pass hides under its attention (and
// exposes when short documents shrink it), the pool's bookkeeping, what hybrid_dp places where
// (every token once, no slot over its capacity, a long document over the fewest adjacent ranks of
// one micro-batch, short ones whole), that balancing evens the ranks' work out, and a pass priced
// from a slot.
#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>

#include "sim/core/config.hpp"
#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"
#include "sim/core/rng.hpp"
#include "sim/training/sequence_sharding.hpp"
#include "workload/length_distribution.hpp"

using namespace hetsim;
using namespace hetsim::training;

namespace {

std::unique_ptr<SequenceShardingPolicy> policy(const std::string& yaml) {
  const auto doc = config::Document::load_string(yaml, "sharding.yaml");
  return Registry<SequenceShardingPolicy>::instance().make(doc.root(), "");
}

/// Work as balancing sees it: tokens plus attention pairs (scaled so that both matter).
const PieceCost kWork = [](double tokens, double pairs, double, int) { return tokens + pairs / 4096; };

double total(const std::vector<std::int64_t>& docs) {
  return static_cast<double>(std::accumulate(docs.begin(), docs.end(), std::int64_t{0}));
}

/// Documents of a lognormal stream filling `tokens` exactly (the last one cut).
std::vector<std::int64_t> stream(std::int64_t tokens, std::uint64_t seed) {
  const auto doc = config::Document::load_string("{dist: lognormal, median: 1024, sigma: 1.5, min: 16, max: 65536}", "l.yaml");
  const auto lengths = workload::LengthDistribution::parse(doc.root());
  Rng rng(seed, "docs");
  std::vector<std::int64_t> out;
  std::int64_t filled = 0;
  while (filled < tokens) {
    const std::int64_t l = std::min(std::max<std::int64_t>(1, lengths.sample(rng)), tokens - filled);
    out.push_back(l);
    filled += l;
  }
  return out;
}

/// Each rank's work, as kWork counts it.
std::vector<double> loads(const PoolBatch& b) {
  const ShardingPool& p = b.pool();
  std::vector<double> out(static_cast<std::size_t>(p.ranks), 0.0);
  for (int r = 0; r < p.ranks; ++r)
    for (int m = 0; m < p.microbatches; ++m) out[static_cast<std::size_t>(r)] += kWork(b.slot(r, m).tokens, b.slot(r, m).pairs, 0, 1);
  return out;
}

}  // namespace

TEST_CASE("sequence sharding: the K/V ring hides under the attention, and short documents expose it",
          "[training][sharding]") {
  PassCost pass;
  pass.attention = 0.8;
  pass.attention_flops = 8e14;
  pass.cp_ring = 0.5;
  pass.cp = 4;
  // As priced: ring + attention - min(ring, attention) (1 - 1/cp), the rest of the ring exposed.
  pass.cp_comm = pass.cp_ring - pass.cp_hidden(pass.attention);
  pass.seconds = 1.0 + pass.attention + pass.cp_comm;
  pass.comm = pass.cp_comm;
  CHECK(pass.cp_comm == Approx(0.5 - 0.5 * 0.75));
  const PassCost same = pass.with_attention(1);
  CHECK(same.seconds == Approx(pass.seconds));
  CHECK(same.cp_comm == Approx(pass.cp_comm));
  // At a tenth of the attention only 0.08 x 3/4 of the ring hides: the rest is exposed.
  const PassCost short_docs = pass.with_attention(0.1);
  CHECK(short_docs.cp_comm == Approx(0.5 - 0.08 * 0.75));
  CHECK(short_docs.seconds == Approx(1.0 + 0.08 + 0.5 - 0.08 * 0.75));
  CHECK(short_docs.comm == Approx(short_docs.cp_comm));
  CHECK(short_docs.attention_flops == Approx(8e13));
  // Half the tokens: the work that is not attention halves, the attention is as given.
  const PassCost half = pass.with_tokens(0.5, 0.25);
  CHECK(half.seconds == Approx(0.5 + 0.2 + (0.5 - 0.2 * 0.75)));
}

TEST_CASE("sequence sharding: a pool batch counts each slot's tokens, pairs and rings, and checks its capacity",
          "[training][sharding]") {
  PoolBatch b({4, 2, 1000});
  b.place(0, 0, 600);
  b.place(0, 0, 400);
  b.place_ring(1, {1, 2, 3}, 2400);
  CHECK(b.slot(0, 0).tokens == 1000);
  CHECK(b.slot(0, 0).pairs == 600.0 * 601 + 400.0 * 401);
  for (int r : {1, 2, 3}) {
    CHECK(b.slot(r, 1).tokens == Approx(800));
    CHECK(b.slot(r, 1).pairs == Approx(2400.0 * 2401 / 3));
    CHECK(b.slot(r, 1).rings == std::vector<int>{0});
  }
  CHECK(b.slot(0, 1).rings.empty());
  CHECK(b.tokens() == Approx(3400));
  CHECK_NOTHROW(b.check(3400));
  CHECK_THROWS_AS(b.check(3500), InvariantError);  // tokens lost
  b.place(1, 1, 300);                              // 1100 tokens on rank 1 in micro-batch 1
  CHECK_THROWS_AS(b.check(3700), InvariantError);
}

TEST_CASE("sequence sharding: hybrid_dp places every token once, within capacity, long documents over the fewest "
          "adjacent ranks",
          "[training][sharding]") {
  const ShardingPool pool{8, 4, 4096};
  for (const char* yaml : {"{impl: hybrid_dp}", "{impl: hybrid_dp, balance: false}"}) {
    INFO(yaml);
    const auto p = policy(yaml);
    REQUIRE(p->regroups());
    // One document of 3.5 slots, one of exactly one slot, the rest short; 8 x 4 x 4096 tokens in all.
    std::vector<std::int64_t> docs{14336, 4096};
    const std::int64_t rest = 8 * 4 * 4096 - 14336 - 4096;
    for (std::int64_t filled = 0; filled < rest; filled += 512) docs.push_back(512);
    const PoolBatch b = p->assign(docs, pool, kWork);
    CHECK_NOTHROW(b.check(total(docs)));
    // The long document: one ring of ceil(14336 / 4096) = 4 adjacent ranks in one micro-batch.
    REQUIRE(b.rings().size() == 1);
    const DocumentRing& ring = b.rings().front();
    CHECK(ring.tokens == 14336);
    REQUIRE(ring.ranks.size() == 4);
    for (std::size_t i = 1; i < ring.ranks.size(); ++i) CHECK(ring.ranks[i] == ring.ranks[i - 1] + 1);
    // Short documents are whole on one rank: every slot holds whole 512s (plus a ring piece of 3584).
    for (int r = 0; r < pool.ranks; ++r)
      for (int m = 0; m < pool.microbatches; ++m) {
        const PoolSlot& s = b.slot(r, m);
        const double whole = s.rings.empty() ? s.tokens : s.tokens - 3584;
        CHECK(std::fmod(whole, 512.0) == Approx(0).margin(1e-6));
      }
  }
  // A document longer than a micro-batch of the whole pool is cut into pool-sized parts.
  const auto p = policy("{impl: hybrid_dp}");
  const std::vector<std::int64_t> huge{8 * 4 * 4096};
  const PoolBatch b = p->assign(huge, pool, kWork);
  CHECK_NOTHROW(b.check(total(huge)));
  CHECK(b.rings().size() == 4);
  for (const auto& ring : b.rings()) CHECK(ring.ranks.size() == 8);
}

TEST_CASE("sequence sharding: balancing evens out the ranks' work that first fit leaves apart", "[training][sharding]") {
  const ShardingPool pool{16, 4, 8192};
  const auto docs = stream(16 * 4 * 8192, 7);
  const PoolBatch balanced = policy("{impl: hybrid_dp}")->assign(docs, pool, kWork);
  const PoolBatch first_fit = policy("{impl: hybrid_dp, balance: false}")->assign(docs, pool, kWork);
  CHECK_NOTHROW(balanced.check(total(docs)));
  CHECK_NOTHROW(first_fit.check(total(docs)));
  const auto lb = loads(balanced), lf = loads(first_fit);
  const double mean = std::accumulate(lb.begin(), lb.end(), 0.0) / lb.size();
  const double max_balanced = *std::max_element(lb.begin(), lb.end());
  const double max_first_fit = *std::max_element(lf.begin(), lf.end());
  CHECK(max_balanced < max_first_fit);
  CHECK(max_balanced < 1.1 * mean);
}

TEST_CASE("sequence sharding: a pass from a slot is the cp-1 pass at the slot's tokens and pairs, plus each ring "
          "beyond the attention that hides it",
          "[training][sharding]") {
  ShardedDocuments s;
  s.pool = {4, 1, 1000};
  s.priced_pairs = 1000.0 * 1001;
  PoolBatch b(s.pool);
  b.place(0, 0, 1000);               // one whole document: the pass as priced
  b.place(1, 0, 500);                // half the tokens, one document of 500
  b.place_ring(0, {2, 3}, 2000);     // a ring of two ranks, 1000 tokens each
  s.iterations.push_back(b);
  s.ring_times.push_back({RingTime{{0.3}, {0.9}}});
  PassCost base;
  base.seconds = 3;
  base.attention = 1;
  base.comm = 0.2;
  const PassCost whole = s.pass(0, 0, 0, 0, PassKind::forward, base);
  CHECK(whole.seconds == Approx(3));
  const PassCost half = s.pass(0, 1, 0, 0, PassKind::forward, base);
  CHECK(half.seconds == Approx(2 * 0.5 + 500.0 * 501 / (1000.0 * 1001)));
  CHECK(half.comm == Approx(0.1));
  // The ring's rank computes 2000 x 2001 / 2 pairs: about twice the priced attention.
  const double attention = 2000.0 * 2001 / 2 / (1000.0 * 1001);
  const PassCost fwd = s.pass(0, 2, 0, 0, PassKind::forward, base);
  CHECK(fwd.seconds == Approx(2 + attention + 0.3 - std::min(0.3, attention) * 0.5));
  CHECK(fwd.cp_comm == Approx(0.3 - 0.3 * 0.5));
  const PassCost bwd = s.pass(0, 3, 0, 0, PassKind::backward_input, base);
  CHECK(bwd.cp_comm == Approx(0.9 - std::min(0.9, attention) * 0.5));
  CHECK(s.pass(0, 3, 0, 0, PassKind::backward_weight, base).cp_comm == 0);
}
