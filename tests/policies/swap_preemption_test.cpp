// The swap preemption policy (policies/preemption/swap.cpp) on its own, with a paged KV cache,
// both built from config through the registry, over a KV block store with a swap tier. KV is
// sized at 1 byte per token, so swap_space in bytes / 16 is the swap tier's capacity in blocks.
#include <catch2/catch.hpp>

#include <memory>

#include "sim/serving/kv_manager.hpp"
#include "sim/serving/preemption.hpp"
#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"

using namespace hetsim;
using namespace hetsim::policies;

namespace {

struct Fixture {
  config::Document doc;
  std::unique_ptr<KvManager> kv;
  std::unique_ptr<Preemption> swap;

  /// A 1000-block cache of 16 tokens and a swap tier of `swap_blocks` blocks.
  explicit Fixture(std::int64_t swap_blocks)
      : doc(config::Document::load_string(
            fmt::format("kv: {{impl: paged, block_size: 16, gpu_memory_utilization: 1.0, activation_reserve: 0 B}}\n"
                        "preemption: {{impl: swap, swap_space: {} B}}\n",
                        swap_blocks * 16),
            "swap.yaml")) {
    kv = Registry<KvManager>::instance().make(doc.root().child("kv"), "paged");
    swap = Registry<Preemption>::instance().make(doc.root().child("preemption"), "recompute");
    doc.check_unknown_keys();
    kv->size({16000.0, 0.0, 1.0});
    // What the scenario does: find the requested tier on the node and bind it.
    const auto requests = swap->kv_tiers();
    REQUIRE(requests.size() == 1);
    const serving::KvTierIndex tier[] = {kv->store().add_tier("host.dram", swap_blocks)};
    swap->bind_kv_tiers(tier);
  }
  /// A running sequence whose first `computed` tokens are cached on the device.
  Sequence running(std::int64_t id, std::int64_t computed) {
    Sequence s;
    s.id = id;
    s.prompt_tokens = computed;
    s.output_tokens = 10;
    kv->grow(s, computed);
    s.computed = computed;
    return s;
  }
  serving::KvBlockStore& store() { return kv->store(); }
};

}  // namespace

TEST_CASE("swap preemption: asks for swap_space in the node's first DRAM tier unless `to` names one", "[policies][preemption]") {
  Fixture f(20);
  const auto requests = f.swap->kv_tiers();
  CHECK(requests[0].bytes_per_device == 320);
  CHECK(requests[0].tier.empty());  // the node's first DRAM tier
  CHECK(requests[0].tier_key == "to");
  CHECK(requests[0].size_key == "swap_space");
}

TEST_CASE("swap preemption: evict moves the blocks to the swap tier, records the copy, keeps the computed tokens",
          "[policies][preemption]") {
  Fixture f(20);
  Sequence s = f.running(1, 100);
  REQUIRE(f.kv->used_blocks() == 7);  // ceil(100 / 16)
  f.swap->evict(s, *f.kv);
  CHECK(f.kv->used_blocks() == 0);
  CHECK(f.store().used(1) == 7);
  CHECK(s.kv_tier == 1);
  CHECK(s.blocks.size() == 7);
  CHECK(s.computed == 100);  // kept: nothing is recomputed on resume
  CHECK(s.preemptions == 1);
  REQUIRE(f.store().pending_transfers().size() == 1);
  CHECK(f.store().pending_transfers()[0].from == serving::kDeviceTier);
  CHECK(f.store().pending_transfers()[0].to == 1);
  CHECK(f.store().pending_transfers()[0].tokens == 100);
}

TEST_CASE("swap preemption: falls back to recompute when the swap tier is full", "[policies][preemption]") {
  Fixture f(10);
  Sequence a = f.running(1, 100), b = f.running(2, 49), c = f.running(3, 48);
  f.swap->evict(a, *f.kv);  // 7 of 10 blocks
  f.swap->evict(b, *f.kv);  // 4 more blocks > 10: dropped
  CHECK(b.kv_tier == serving::kDeviceTier);
  CHECK(b.blocks.empty());
  CHECK(b.computed == 0);
  CHECK(b.preemptions == 1);
  f.swap->evict(c, *f.kv);  // exactly 3 more blocks: fits
  CHECK(c.kv_tier == 1);
  CHECK(c.computed == 48);
  CHECK(f.kv->used_blocks() == 0);
  CHECK(f.store().used(1) == 10);
  REQUIRE(f.store().pending_transfers().size() == 1);  // merged per (from, to)
  CHECK(f.store().pending_transfers()[0].tokens == 148);
}

TEST_CASE("swap preemption: growing a swapped sequence brings its blocks back first and frees the swap tier",
          "[policies][preemption]") {
  Fixture f(10);
  Sequence a = f.running(1, 100);
  f.swap->evict(a, *f.kv);
  f.store().pending_transfers().clear();
  f.kv->grow(a, 101);  // resume: one more token
  CHECK(a.kv_tier == serving::kDeviceTier);
  CHECK(a.blocks.size() == 7);  // ceil(101 / 16)
  CHECK(f.kv->used_blocks() == 7);
  CHECK(f.store().used(1) == 0);
  REQUIRE(f.store().pending_transfers().size() == 1);
  CHECK(f.store().pending_transfers()[0].to == serving::kDeviceTier);
  CHECK(f.store().pending_transfers()[0].tokens == 100);
  // The space is free again: a 10-block victim now fits, which it would not with `a` still parked.
  Sequence b = f.running(2, 160);
  f.swap->evict(b, *f.kv);
  CHECK(b.kv_tier == 1);
}

TEST_CASE("swap preemption: a device too full to bring a sequence back is an invariant error", "[policies][preemption][errors]") {
  Fixture f(10);
  Sequence a = f.running(1, 100);
  f.swap->evict(a, *f.kv);
  Sequence hog = f.running(2, 16000 - 16);  // 999 of 1000 device blocks
  REQUIRE_THROWS_AS(f.kv->grow(a, 101), InvariantError);
  REQUIRE_THROWS_WITH(f.kv->grow(a, 101), Catch::Contains("KV capacity exceeded"));
}

TEST_CASE("swap preemption: swap_space must be a positive size", "[policies][preemption][errors]") {
  auto doc = config::Document::load_string("preemption: {impl: swap, swap_space: 0 B}\n", "swap.yaml");
  REQUIRE_THROWS_WITH(Registry<Preemption>::instance().make(doc.root().child("preemption"), "recompute"),
                      Catch::Contains("preemption.swap_space"));
}
