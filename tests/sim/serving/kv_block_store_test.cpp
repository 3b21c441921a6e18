// The KV block store: block identity, reference counts, content hashes with LRU reuse of cached
// blocks, tiers and the transfers that moves between them record.
#include <catch2/catch.hpp>

#include "sim/core/error.hpp"
#include "sim/serving/kv_block_store.hpp"

using namespace hetsim;
using serving::KvBlockStore;

TEST_CASE("kv store: blocks are counted, refcounted and never exceed capacity", "[serving][kv]") {
  KvBlockStore s(16, 3);
  const auto a = s.allocate(), b = s.allocate();
  CHECK(a != b);
  CHECK(s.used() == 2);
  CHECK(s.free() == 1);
  s.retain(a);  // shared by two sequences
  s.release(a);
  CHECK(s.used() == 2);
  s.release(a);
  CHECK(s.used() == 1);
  (void)s.allocate();
  (void)s.allocate();
  CHECK(s.free() == 0);
  REQUIRE_THROWS_AS(s.allocate(), InvariantError);
  s.release(b);
  CHECK(s.free() == 1);
  REQUIRE_THROWS_WITH(s.release(b), Catch::Contains("released while free"));
}

TEST_CASE("kv store: hashed blocks stay cached when freed and are reused least recently freed first", "[serving][kv]") {
  KvBlockStore s(16, 2);
  const auto a = s.allocate(), b = s.allocate();
  s.set_hash(a, 111);
  s.set_hash(b, 222);
  s.release(a);
  s.release(b);
  CHECK(s.used() == 0);
  CHECK(s.cached() == 2);
  // A prefix hit revives the cached block without a new allocation.
  CHECK(s.acquire_cached(222) == b);
  CHECK(s.used() == 1);
  CHECK(s.cached() == 1);
  s.release(b);
  // Allocation evicts the least recently freed cached block (a, then b) and forgets its hash.
  const auto c = s.allocate();
  CHECK(c == a);
  CHECK(s.find(111) == -1);
  CHECK(s.find(222) == b);
  const auto d = s.allocate();
  CHECK(d == b);
  CHECK(s.find(222) == -1);
  CHECK(s.acquire_cached(222) == -1);
}

TEST_CASE("kv store: moving a block table to another tier records one transfer per tier pair", "[serving][kv]") {
  KvBlockStore s(16, 10);
  const auto host = s.add_tier("n0/host.dram", 4);
  CHECK(s.tier_name(host) == "n0/host.dram");
  std::vector<serving::BlockId> t1 = {s.allocate(), s.allocate(), s.allocate()};
  std::vector<serving::BlockId> t2 = {s.allocate(), s.allocate()};
  CHECK(s.move(t1, host, 40));
  CHECK(s.used() == 2);
  CHECK(s.used(host) == 3);
  for (auto b : t1) CHECK(s.block(b).tier == host);
  CHECK_FALSE(s.move(t2, host, 20));  // 2 more blocks do not fit in 4
  CHECK(s.used() == 2);
  CHECK(s.move(t1, serving::kDeviceTier, 40));
  const auto& p = s.pending_transfers();
  REQUIRE(p.size() == 2);
  CHECK((p[0].from == serving::kDeviceTier && p[0].to == host && p[0].tokens == 40));
  CHECK((p[1].from == host && p[1].to == serving::kDeviceTier && p[1].tokens == 40));
}

namespace {
/// A cached block in tier `t` holding `hash`, taken `uses` times in all.
serving::BlockId cached_block(KvBlockStore& s, std::uint64_t hash, int uses, serving::KvTierIndex t = serving::kDeviceTier) {
  const auto b = s.allocate(t);
  s.set_hash(b, hash);
  s.release(b);
  for (int i = 1; i < uses; ++i) s.release(s.acquire_cached(hash, t));
  return b;
}
}  // namespace

TEST_CASE("kv store: an LFU tier evicts the least used block first, least recently freed among equals", "[serving][kv]") {
  KvBlockStore s(16, 1);
  const auto t = s.add_tier("n0/host.dram", 3);
  s.set_policy(t, serving::Eviction::lfu);
  const auto hot = cached_block(s, 1, 3, t);   // used three times
  const auto cold = cached_block(s, 2, 1, t);  // once, freed after hot
  const auto warm = cached_block(s, 3, 2, t);  // twice, freed last
  CHECK(s.next_victim(t) == cold);
  (void)s.allocate(t);  // evicts cold, although hot was freed before it
  CHECK(s.find(2, t) == -1);
  CHECK(s.find(1, t) == hot);
  CHECK(s.next_victim(t) == warm);
  // The same sequence in an LRU tier evicts the least recently freed: hot.
  KvBlockStore l(16, 1);
  const auto u = l.add_tier("n0/host.dram", 3);
  const auto lru_hot = cached_block(l, 1, 3, u);
  cached_block(l, 2, 1, u);
  cached_block(l, 3, 2, u);
  CHECK(l.next_victim(u) == lru_hot);
  s.audit();
  l.audit();
}

TEST_CASE("kv store: LFU ages (LFU-DA), so blocks once hot but no longer used are evicted in the end", "[serving][kv]") {
  KvBlockStore s(16, 2);
  s.set_policy(serving::kDeviceTier, serving::Eviction::lfu);
  cached_block(s, 1, 5, serving::kDeviceTier);  // hot long ago: priority 5
  // A stream of blocks used twice each: every eviction raises the tier's age to the victim's
  // priority, so newcomers soon outrank the old hot block and it goes.
  bool evicted = false;
  for (std::uint64_t h = 10; h < 20 && !evicted; ++h) {
    const auto b = s.allocate();
    s.set_hash(b, h);
    s.release(b);
    s.release(s.acquire_cached(h));
    evicted = s.find(1) == -1;
  }
  CHECK(evicted);
  s.audit();
}

TEST_CASE("kv store: a tier's time to live drops cached blocks freed that long ago, and time never goes back", "[serving][kv]") {
  KvBlockStore s(16, 4);
  const auto t = s.add_tier("n0/host.dram", 4);
  s.set_policy(t, serving::Eviction::lru, 300.0);
  s.advance(10.0);
  cached_block(s, 1, 1, t);                        // freed at 10 s
  cached_block(s, 7, 1);                           // device tier: no TTL
  const auto held = s.acquire_cached(1, t);        // referenced blocks never expire
  s.advance(20.0);
  cached_block(s, 2, 1, t);                        // freed at 20 s
  s.advance(400.0);
  CHECK(s.find(1, t) == held);
  s.release(held);                                 // freed again at 400 s
  CHECK(s.find(2, t) == -1);                       // 380 s idle > 300 s
  CHECK(s.expired(t) == 1);
  s.advance(699.0);
  CHECK(s.find(1, t) >= 0);                        // 299 s idle
  s.advance(700.0);
  CHECK(s.find(1, t) == -1);                       // exactly 300 s: gone
  CHECK(s.expired(t) == 2);
  CHECK(s.find(7) >= 0);
  CHECK(s.cached(t) == 0);
  REQUIRE_THROWS_WITH(s.advance(699.0), Catch::Contains("time went back"));
  s.audit();
}
