#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <unordered_set>

#include "sim/core/registry.hpp"
#include "sim/core/rng.hpp"
#include "sim/serving/kv_manager.hpp"
#include "sim/serving/preemption.hpp"
#include "sim/serving/scheduler.hpp"
#include "support.hpp"
#include "workload/mooncake_trace.hpp"
#include "workload/stream_support.hpp"

using namespace hetsim;
using namespace hetsim::policies;

namespace {

/// A prefix-caching KV manager of exactly `blocks` blocks of `block_size` tokens, with the queues
/// that admit through it.
struct Cache {
  config::Document doc;
  std::unique_ptr<KvManager> kv;
  std::unique_ptr<Preemption> preemption;
  std::unique_ptr<ReplicaQueues> queues;
  std::int64_t block_size;

  Cache(std::int64_t blocks, std::int64_t block_size_ = 16, const std::string& impl = "prefix_caching",
        const std::string& extra = "")
      : doc(config::Document::load_string(
            fmt::format("kv: {{impl: {}, block_size: {}, gpu_memory_utilization: 1.0, activation_reserve: 0 B, "
                        "watermark: 0{}}}\npreemption: {{impl: recompute}}\n",
                        impl, block_size_, extra),
            "fixture.yaml")),
        block_size(block_size_) {
    kv = Registry<KvManager>::instance().make(doc.root().child("kv"), "paged");
    preemption = Registry<Preemption>::instance().make(doc.root().child("preemption"), "recompute");
    kv->size({static_cast<double>(blocks * block_size), 0.0, 1.0});
    REQUIRE(kv->total_blocks() == blocks);
    queues = std::make_unique<ReplicaQueues>(*kv, *preemption);
  }

  /// Admits `s` (waiting alone), feeding everything after its cached prefix, as one step would.
  /// Returns the tokens fed; false-y (-1) if it did not fit.
  std::int64_t admit(Sequence& s) {
    queues->waiting().push_back(&s);
    const std::int64_t tokens = queues->head_pending();
    if (!queues->admit_head(tokens)) {
      queues->waiting().pop_back();
      return -1;
    }
    s.computed += tokens;
    kv->on_computed(s);
    return tokens;
  }
  void finish(Sequence& s) {
    kv->release(s);
    auto& running = queues->running();
    running.erase(std::remove(running.begin(), running.end(), &s), running.end());
  }
};

/// A sequence of `prompt` tokens whose first `described` tokens are content ids `ids` (16 tokens each).
Sequence make(std::int64_t id, std::int64_t prompt, const std::vector<std::uint64_t>& ids, std::int64_t described,
              std::int32_t unit = 16) {
  Sequence s;
  s.id = id;
  s.prompt_tokens = prompt;
  s.output_tokens = 1;
  s.content_ids = ids;
  s.content_unit = unit;
  s.content_tokens = described;
  return s;
}

std::vector<std::uint64_t> iota_ids(std::uint64_t from, std::size_t n) {
  std::vector<std::uint64_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = from + i;
  return v;
}

}  // namespace

TEST_CASE("prefix caching: a shared prefix is computed once, and only full described blocks are reused",
          "[policies][kv][prefix]") {
  const std::string impl = GENERATE("prefix_caching", "radix");
  INFO(impl);
  Cache c(1000, 16, impl);
  // 10 blocks of shared content (a system prompt), then each request's own 40 tokens.
  const auto shared = iota_ids(100, 10);
  Sequence a = make(0, 200, shared, 160), b = make(1, 200, shared, 160);
  CHECK(c.admit(a) == 200);  // nothing cached yet
  CHECK(a.cached_tokens == 0);
  c.finish(a);
  CHECK(c.kv->used_blocks() == 0);
  CHECK(c.admit(b) == 40);  // the 10 shared blocks are found, freed but cached
  CHECK(b.cached_tokens == 160);
  CHECK(b.computed == 200);
  // A sequence with different content at block 3 shares only blocks 0..2.
  auto other = shared;
  other[3] = 999;
  Sequence d = make(2, 200, other, 160);
  CHECK(c.admit(d) == 200 - 48);
  // Both running: the shared head is held once, referenced twice.
  CHECK(c.kv->used_blocks() == 13 + 13 - 3);
  const PrefixCounts counts = c.kv->take_prefix_counts();
  CHECK(counts.lookup_tokens == 600);
  CHECK(counts.hit_tokens == 160 + 48);
  c.finish(b);
  c.finish(d);
  CHECK(c.kv->used_blocks() == 0);
  c.kv->store().audit();
}

TEST_CASE("prefix caching: a hit leaves the last token to compute (at most (tokens - 1) / block_size blocks)",
          "[policies][kv][prefix]") {
  const std::string impl = GENERATE("prefix_caching", "radix");
  INFO(impl);
  Cache c(1000, 16, impl);
  const auto ids = iota_ids(7, 10);
  Sequence a = make(0, 160, ids, 160), b = make(1, 160, ids, 160);
  CHECK(c.admit(a) == 160);
  c.finish(a);
  // All 10 blocks are cached, but the prompt's last token must be fed for its logits: 9 blocks.
  CHECK(c.admit(b) == 16);
  CHECK(b.cached_tokens == 144);
  c.finish(b);
}

TEST_CASE("prefix caching: the plain paged manager finds nothing and counts nothing", "[policies][kv][prefix]") {
  Cache c(1000, 16, "paged");
  const auto ids = iota_ids(7, 10);
  Sequence a = make(0, 160, ids, 160), b = make(1, 160, ids, 160);
  CHECK(c.admit(a) == 160);
  c.finish(a);
  CHECK(c.admit(b) == 160);
  CHECK_FALSE(c.kv->caches_prefixes());
  CHECK(c.kv->take_prefix_counts().hit_tokens == 0);
  c.finish(b);
}

TEST_CASE("prefix caching: freed blocks are evicted least recently freed first, tail before head",
          "[policies][kv][prefix]") {
  Cache c(20);
  Sequence a = make(0, 160, iota_ids(0, 10), 160);  // 10 blocks
  Sequence b = make(1, 160, iota_ids(50, 10), 160);
  CHECK(c.admit(a) == 160);
  c.finish(a);
  CHECK(c.admit(b) == 160);
  c.finish(b);
  // 20 cached blocks fill the store; a new 8-block prompt evicts a's 8 least recently freed
  // blocks: its tail (blocks 9..2, freed first), so a's first two blocks survive.
  Sequence n = make(2, 128, iota_ids(900, 8), 128);
  CHECK(c.admit(n) == 128);
  c.finish(n);
  Sequence a2 = make(3, 160, iota_ids(0, 10), 160);
  CHECK(c.admit(a2) == 160 - 32);
  c.finish(a2);
  c.kv->store().audit();
}

TEST_CASE("prefix caching: a recompute-preempted sequence finds its own blocks again", "[policies][kv][prefix]") {
  const std::string impl = GENERATE("prefix_caching", "radix");
  INFO(impl);
  Cache c(100, 16, impl);
  Sequence a = make(0, 320, iota_ids(0, 20), 320);
  CHECK(c.admit(a) == 320);
  // Preempted (recompute): its KV is dropped, but the blocks stay cached.
  c.queues->evict_newest();
  CHECK(a.computed == 0);
  CHECK(c.kv->used_blocks() == 0);
  c.queues->waiting().clear();
  CHECK(c.admit(a) == 16);
  CHECK(a.cached_tokens == 0);  // the request's own figure is its first admission's
  c.finish(a);
  c.kv->store().audit();
}

namespace {
/// The share of prompt tokens a prefix cache that never evicts reuses, counted directly from the
/// trace: request by request, its leading 512-token blocks whose id an earlier request had (the
/// engine can reuse only full blocks, and at most (prompt - 1) / 512 of them).
double direct_reuse(const std::vector<Request>& rs) {
  std::unordered_set<std::uint64_t> seen;
  double hit = 0, all = 0;
  for (const auto& r : rs) {
    const std::int64_t full = std::min(r.prompt_tokens / 512, (r.prompt_tokens - 1) / 512);
    std::int64_t k = 0;
    while (k < full && seen.count(r.hash_ids[static_cast<std::size_t>(k)])) ++k;
    hit += static_cast<double>(k * 512);
    all += static_cast<double>(r.prompt_tokens);
    seen.insert(r.hash_ids.begin(), r.hash_ids.end());
  }
  return hit / all;
}

/// Replays `rs` one request at a time through a prefix cache of `blocks` blocks; the hit rate.
double replay_hit_rate(const std::vector<Request>& rs, std::int64_t blocks, std::int64_t block_size,
                       const std::string& impl = "prefix_caching") {
  Cache c(blocks, block_size, impl);
  for (const auto& r : rs) {
    Sequence s = make(r.id, r.prompt_tokens, r.hash_ids, r.hash_tokens, r.hash_block_tokens);
    REQUIRE(c.admit(s) > 0);
    c.finish(s);
  }
  c.kv->store().audit();
  REQUIRE(c.kv->used_blocks() == 0);
  const PrefixCounts counts = c.kv->take_prefix_counts();
  return static_cast<double>(counts.hit_tokens) / static_cast<double>(counts.lookup_tokens);
}

std::vector<Request> mooncake(const std::string& name) {
  const std::string path = test::shared_data() + "/mooncake/" + name;
  INFO("shared data missing: " << path << " (see ../shared/data/README.md)");
  REQUIRE(std::filesystem::exists(path));
  return test::drain(workload::open_mooncake_trace(path));
}
}  // namespace

TEST_CASE("prefix caching (shared data): an unbounded cache reuses the Mooncake traces' published prefix share",
          "[policies][kv][prefix][shared_data]") {
  // Mooncake (Qin et al., FAST'25) Table 2 reports 40% (conversation) and 66% (synthetic) of input
  // tokens reusable; a direct count over the released files gives 37% and 65% (full blocks).
  struct Case {
    const char* file;
    double published;
  };
  for (const Case& k : {Case{"conversation_trace.jsonl", 0.37}, Case{"synthetic_trace.jsonl", 0.65}}) {
    INFO(k.file);
    const auto rs = mooncake(k.file);
    const double direct = direct_reuse(rs);
    CHECK(direct == Approx(k.published).margin(0.01));
    // Engine blocks of 512 tokens align with the trace's: the cache must find exactly the direct count.
    CHECK(replay_hit_rate(rs, 1 << 20, 512) == Approx(direct).margin(1e-9));
    CHECK(replay_hit_rate(rs, 1 << 20, 512, "radix") == Approx(direct).margin(1e-9));
  }
}

TEST_CASE("prefix caching (shared data): a bounded LRU cache hits more as it grows", "[policies][kv][prefix][shared_data]") {
  const std::string impl = GENERATE("prefix_caching", "radix");
  INFO(impl);
  auto rs = mooncake("conversation_trace.jsonl");
  rs.resize(3000);
  double last = -1;
  std::vector<double> rates;
  for (std::int64_t blocks : {8192, 32768, 131072, 524288, 1 << 22}) {
    const double rate = replay_hit_rate(rs, blocks, 16, impl);
    INFO(blocks << " blocks: hit rate " << rate);
    CHECK(rate >= last);
    last = rate;
    rates.push_back(rate);
  }
  CHECK(rates.back() > rates.front() + 0.1);
  // The largest holds every block of the 3,000 requests: the direct count (16-token blocks can
  // also reuse part of a trace block, so a little more).
  CHECK(rates.back() >= direct_reuse(rs));
  CHECK(rates.back() <= direct_reuse(rs) + 0.01);
}

TEST_CASE("prefix caching: the radix cache evicts leaves only, so what is cached is always a whole prefix",
          "[policies][kv][prefix]") {
  // Random prompts over a small tree of contents (4 choices per 16-token block, 4-12 blocks), in a
  // cache far smaller than the tree: many evictions. After every request, each earlier prompt's
  // findable blocks must be a leading run (no cached block whose parent was evicted).
  Cache c(40, 16, "radix");
  Rng rng(11, "radix_test");
  std::vector<Sequence> seen;
  std::int64_t hits = 0;
  for (int k = 0; k < 400; ++k) {
    const auto blocks = static_cast<std::size_t>(rng.uniform_int(4, 12));
    std::vector<std::uint64_t> ids(blocks);
    std::uint64_t path = 1;
    for (auto& id : ids) id = path = path * 4 + static_cast<std::uint64_t>(rng.uniform_int(0, 3));
    Sequence s = make(k, static_cast<std::int64_t>(blocks) * 16, ids, static_cast<std::int64_t>(blocks) * 16);
    REQUIRE(c.admit(s) > 0);
    hits += s.cached_tokens;
    c.finish(s);
    seen.push_back(std::move(s));
    for (const Sequence& old : seen) {
      bool gap = false;
      for (std::uint64_t h : old.block_hashes) {
        const bool found = c.kv->store().find(h) >= 0;
        REQUIRE_FALSE((gap && found));
        gap = gap || !found;
      }
    }
  }
  c.kv->store().audit();
  CHECK(hits > 0);
}

namespace {
/// A prefix cache of `device` blocks with offload tiers of the given block capacities below it
/// (bound as the scenario would, each with a load time of 1 ms per block).
struct TieredCache : Cache {
  std::vector<serving::KvTierIndex> tiers;
  TieredCache(std::int64_t device, const std::vector<std::int64_t>& lower, const std::string& offload_extra = "")
      : Cache(device, 16, "prefix_caching", offload_yaml(lower, offload_extra)) {
    std::vector<KvTierBinding> bound;
    for (std::size_t k = 0; k < lower.size(); ++k) {
      tiers.push_back(kv->store().add_tier(fmt::format("tier{}", k), lower[k]));
      bound.push_back({tiers.back(), fmt::format("tier{}", k), 1e-3});
    }
    kv->bind_kv_tiers(bound);
  }
  static std::string offload_yaml(const std::vector<std::int64_t>& lower, const std::string& extra) {
    std::string t;
    for (std::size_t k = 0; k < lower.size(); ++k) t += fmt::format("{}{{tier: tier{}, capacity: 1 GiB}}", k ? ", " : "", k);
    return fmt::format(", offload: {{tiers: [{}]{}}}", t, extra);
  }
  /// Transfers recorded since the last call, taken.
  std::vector<serving::KvTransfer> take_transfers() { return std::exchange(kv->store().pending_transfers(), {}); }
};
}  // namespace

TEST_CASE("prefix caching offload: blocks evicted from device memory go down a tier and are loaded back on a hit",
          "[policies][kv][prefix][offload]") {
  TieredCache c(20, {100});
  Sequence a = make(0, 160, iota_ids(0, 10), 160);  // 10 blocks
  REQUIRE(c.admit(a) == 160);
  c.finish(a);
  // 15 blocks of other content evict 5 of a's cached blocks (its tail first): written below.
  Sequence b = make(1, 240, iota_ids(100, 15), 240);
  REQUIRE(c.admit(b) == 240);
  c.finish(b);
  auto out = c.take_transfers();
  REQUIRE(out.size() == 1);
  CHECK(out[0].from == serving::kDeviceTier);
  CHECK(out[0].to == c.tiers[0]);
  CHECK(out[0].blocks == 5);
  CHECK(out[0].tokens == 80);
  CHECK_FALSE(out[0].overlap);  // the slots are reused by this step: the copy lands first
  CHECK(c.kv->store().cached(c.tiers[0]) == 5);
  // a again: 5 blocks still in device memory, 5 below (capped at (160 - 1) / 16 = 9 blocks).
  Sequence a2 = make(2, 160, iota_ids(0, 10), 160);
  c.queues->waiting().push_back(&a2);
  const PrefixHit hit = c.kv->lookup(a2);
  CHECK(hit.tokens == 144);
  CHECK(hit.loaded_tokens == 64);
  c.queues->waiting().clear();
  REQUIRE(c.admit(a2) == 16);
  bool loaded = false;
  for (const auto& t : c.take_transfers())
    if (t.to == serving::kDeviceTier) {
      loaded = true;
      CHECK(t.from == c.tiers[0]);
      CHECK(t.blocks == 4);
      CHECK(t.tokens == 64);
    }
  CHECK(loaded);
  const PrefixCounts counts = c.kv->take_prefix_counts();
  CHECK(counts.loaded_tokens == 64);
  const auto stats = c.kv->tier_stats();
  REQUIRE(stats.size() == 2);
  CHECK(stats[0].hit_tokens == 80);   // a2's head, in device memory
  CHECK(stats[1].hit_tokens == 64);   // loaded from below
  CHECK(stats[1].written_tokens == 160);  // a's 5 evicted blocks, then 5 of b's to make room for a2
  CHECK(stats[1].load_seconds == Approx(4e-3));
  c.finish(a2);
  c.kv->store().audit();
  CHECK(c.kv->used_blocks() == 0);
}

TEST_CASE("prefix caching offload: a full lower tier passes its least recent blocks one tier further down",
          "[policies][kv][prefix][offload]") {
  TieredCache c(10, {4, 100});
  for (int k = 0; k < 5; ++k) {
    Sequence s = make(k, 160, iota_ids(1000 * (k + 1), 10), 160);
    REQUIRE(c.admit(s) == 160);
    c.finish(s);
  }
  const auto stats = c.kv->tier_stats();
  CHECK(stats[1].evicted_blocks > 0);
  CHECK(stats[2].written_tokens == stats[1].evicted_blocks * 16);  // each went down, none lost
  CHECK(c.kv->store().cached(c.tiers[0]) == 4);
  bool background = false;
  for (const auto& t : c.take_transfers())
    if (t.from == c.tiers[0] && t.to == c.tiers[1]) background = t.overlap;
  CHECK(background);  // between lower tiers nothing waits for the copy
  // The first prompt is now two tiers down, and found there.
  Sequence again = make(9, 160, iota_ids(1000, 10), 160);
  c.queues->waiting().push_back(&again);
  CHECK(c.kv->lookup(again).loaded_tokens == 144);
  c.queues->waiting().clear();
  c.kv->store().audit();
  for (std::size_t t = 0; t < c.kv->store().tiers(); ++t)
    CHECK(c.kv->store().used(static_cast<serving::KvTierIndex>(t)) <= c.kv->store().capacity(static_cast<serving::KvTierIndex>(t)));
}

TEST_CASE("prefix caching offload: write-through copies in the background, and eviction then costs no copy",
          "[policies][kv][prefix][offload]") {
  TieredCache c(10, {100}, ", write: write_through");
  Sequence a = make(0, 160, iota_ids(0, 10), 160);
  REQUIRE(c.admit(a) == 160);
  auto through = c.take_transfers();
  REQUIRE(through.size() == 1);
  CHECK(through[0].blocks == 10);
  CHECK(through[0].overlap);
  c.finish(a);
  Sequence b = make(1, 160, iota_ids(500, 10), 160);
  REQUIRE(c.admit(b) == 160);
  for (const auto& t : c.take_transfers()) CHECK(t.overlap);  // b's own write-through; a's eviction copied nothing
}

TEST_CASE("prefix caching offload: load: when_faster recomputes when loading would take longer",
          "[policies][kv][prefix][offload]") {
  for (const double per_token : {1e-6, 1.0}) {
    INFO("prefill seconds per token " << per_token);
    TieredCache c(10, {100}, ", load: when_faster");
    c.kv->set_prefill_seconds_per_token(per_token);
    Sequence a = make(0, 160, iota_ids(0, 10), 160);
    REQUIRE(c.admit(a) == 160);
    c.finish(a);
    Sequence b = make(1, 160, iota_ids(500, 10), 160);  // evicts all of a
    REQUIRE(c.admit(b) == 160);
    c.finish(b);
    Sequence a2 = make(2, 160, iota_ids(0, 10), 160);
    c.queues->waiting().push_back(&a2);
    // Loading a block takes 1 ms here; computing its 16 tokens 16 us or 16 s.
    CHECK(c.kv->lookup(a2).loaded_tokens == (per_token > 1e-3 ? 144 : 0));
    c.queues->waiting().clear();
  }
}

TEST_CASE("prefix caching offload: a copy costs its setup plus a submission per piece, in requests of one piece",
          "[policies][kv][prefix][offload]") {
  TieredCache c(10, {100}, ", setup: 10 us, per_piece: 2 us, pieces_per_block: 4");
  const auto cost = c.kv->copy_cost({.from = 0, .to = c.tiers[0], .tokens = 48, .blocks = 3});
  CHECK(cost.overhead == Approx(10e-6 + 3 * 4 * 2e-6));
  CHECK(cost.request_size == Approx(16.0 / 4));  // a block of 16 tokens at the fixture's 1 byte per token, in 4 pieces
}

namespace {
/// Ids of a 64-token chunk (4 units of 16) of document `doc`.
std::vector<std::uint64_t> chunk(std::uint64_t doc) { return iota_ids(doc * 100, 4); }
std::vector<std::uint64_t> concat(std::initializer_list<std::vector<std::uint64_t>> parts) {
  std::vector<std::uint64_t> v;
  for (const auto& p : parts) v.insert(v.end(), p.begin(), p.end());
  return v;
}
}  // namespace

TEST_CASE("cacheblend: cached chunks are reused anywhere in the prompt, recomputing recompute_ratio of the non-leading ones",
          "[policies][kv][prefix][cacheblend]") {
  Cache c(1000, 16, "cacheblend", ", recompute_ratio: 0.25");
  // A: chunks 1, 2, 3 (192 tokens) then 20 question tokens.
  Sequence a = make(0, 212, concat({chunk(1), chunk(2), chunk(3)}), 192);
  CHECK(c.admit(a) == 212);
  c.finish(a);
  // B: chunk 1 leads again (a prefix hit, 4 blocks), chunk 9 is new, chunks 3 and 2 are cached
  // out of order (8 blocks = 128 tokens blended, 25% = 32 tokens recomputed).
  Sequence b = make(1, 276, concat({chunk(1), chunk(9), chunk(3), chunk(2)}), 256);
  const std::int64_t fed = c.admit(b);
  CHECK(fed == 276 - 64 - (128 - 32));
  CHECK(b.cached_tokens == 64 + 128);
  CHECK(b.computed == 276);
  const PrefixCounts counts = c.kv->take_prefix_counts();
  CHECK(counts.hit_tokens == 64 + 128);  // A found nothing; B: 64 leading + 128 blended
  // The lead is shared with the cache (refcount taken); blended chunks got blocks of their own.
  CHECK(c.kv->used_blocks() == (276 + 15) / 16);
  // Prefix caching on the same two prompts reuses the leading chunk only.
  Cache p(1000, 16, "prefix_caching");
  Sequence a2 = make(0, 212, concat({chunk(1), chunk(2), chunk(3)}), 192);
  p.admit(a2);
  p.finish(a2);
  Sequence b2 = make(1, 276, concat({chunk(1), chunk(9), chunk(3), chunk(2)}), 256);
  CHECK(p.admit(b2) == 276 - 64);
  c.finish(b);
  CHECK(c.kv->used_blocks() == 0);
  c.kv->store().audit();
}

TEST_CASE("cacheblend: with recompute_ratio 1 a blended chunk saves no compute, only its leading run does",
          "[policies][kv][prefix][cacheblend]") {
  Cache c(1000, 16, "cacheblend", ", recompute_ratio: 1");
  Sequence a = make(0, 150, concat({chunk(1), chunk(2)}), 128);
  c.admit(a);
  c.finish(a);
  Sequence b = make(1, 150, concat({chunk(7), chunk(2)}), 128);
  CHECK(c.admit(b) == 150);
  CHECK(b.cached_tokens == 64);
  c.finish(b);
  REQUIRE_THROWS_WITH(Cache(10, 16, "cacheblend", ", recompute_ratio: 1.5"), Catch::Contains("kv.recompute_ratio"));
}
