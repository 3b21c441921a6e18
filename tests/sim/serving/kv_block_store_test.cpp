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
