// The swap preemption policy (policies/preemption/swap.cpp) on its own, with a paged KV cache,
// both built from config through the registry. KV is sized at 1 byte per token so that
// swap_space in bytes is the swap capacity in tokens.
#include <catch2/catch.hpp>

#include <memory>

#include "policies/kv_cache/kv_manager.hpp"
#include "policies/preemption/preemption.hpp"
#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"

using namespace hetsim;
using namespace hetsim::policies;

namespace {

struct Fixture {
  config::Document doc;
  std::unique_ptr<KvManager> kv;
  std::unique_ptr<Preemption> swap;

  /// A 1000-block cache of 16 tokens and a swap space of `swap_tokens` tokens.
  explicit Fixture(std::int64_t swap_tokens)
      : doc(config::Document::load_string(
            fmt::format("kv: {{impl: paged, block_size: 16, gpu_memory_utilization: 1.0, activation_reserve: 0 B}}\n"
                        "preemption: {{impl: swap, swap_space: {} B}}\n",
                        swap_tokens),
            "swap.yaml")) {
    kv = Registry<KvManager>::instance().make(doc.root().child("kv"), "paged");
    swap = Registry<Preemption>::instance().make(doc.root().child("preemption"), "recompute");
    doc.check_unknown_keys();
    const KvSizing sizing{16000.0, 0.0, 1.0};
    kv->size(sizing);
    swap->size(sizing);
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
};

}  // namespace

TEST_CASE("swap preemption: is built from config and moves KV", "[policies][preemption]") {
  Fixture f(300);
  CHECK(f.swap->moves_kv());
  CHECK(f.swap->swap_space_bytes() == 300);
  CHECK(f.swap->swap_tier().empty());  // the node's first DRAM tier
}

TEST_CASE("swap preemption: evict frees the device blocks and parks the computed tokens in swap space",
          "[policies][preemption]") {
  Fixture f(300);
  Sequence s = f.running(1, 100);
  REQUIRE(f.kv->used_blocks() == 7);  // ceil(100 / 16)
  f.swap->evict(s, *f.kv);
  CHECK(f.kv->used_blocks() == 0);
  CHECK(s.kv_blocks == 0);
  CHECK(s.computed == 100);  // kept: nothing is recomputed on resume
  CHECK(s.swapped_tokens == 100);
  CHECK(s.preemptions == 1);
  CHECK(f.swap->take_swapped_out() == 100);
  CHECK(f.swap->take_swapped_out() == 0);  // reported once
}

TEST_CASE("swap preemption: falls back to recompute when the swap space is full", "[policies][preemption]") {
  Fixture f(150);
  Sequence a = f.running(1, 100), b = f.running(2, 51), c = f.running(3, 50);
  f.swap->evict(a, *f.kv);  // 100 of 150 used
  f.swap->evict(b, *f.kv);  // 151 > 150: dropped
  CHECK(b.swapped_tokens == 0);
  CHECK(b.computed == 0);
  CHECK(b.preemptions == 1);
  f.swap->evict(c, *f.kv);  // exactly 150: fits
  CHECK(c.swapped_tokens == 50);
  CHECK(c.computed == 50);
  CHECK(f.kv->used_blocks() == 0);
  CHECK(f.swap->take_swapped_out() == 150);
}

TEST_CASE("swap preemption: swap_in frees the swap space and returns the tokens to copy back", "[policies][preemption]") {
  Fixture f(150);
  Sequence a = f.running(1, 100);
  f.swap->evict(a, *f.kv);
  CHECK(f.swap->swap_in(a) == 100);
  CHECK(a.swapped_tokens == 0);
  CHECK(a.computed == 100);
  // The space is free again: a 150-token victim now fits, which it would not with `a` still parked.
  Sequence b = f.running(2, 150);
  f.swap->evict(b, *f.kv);
  CHECK(b.swapped_tokens == 150);
  CHECK(f.swap->take_swapped_out() == 250);
}

TEST_CASE("swap preemption: inconsistent swap state is an invariant error", "[policies][preemption][errors]") {
  Fixture f(300);
  SECTION("computed changed while swapped out") {
    Sequence a = f.running(1, 100);
    f.swap->evict(a, *f.kv);
    a.computed = 90;
    REQUIRE_THROWS_AS(f.swap->swap_in(a), InvariantError);
    REQUIRE_THROWS_WITH(f.swap->swap_in(a), Catch::Contains("sequence 1: swapping in 100 tokens, 100 in swap space, 90 computed"));
  }
  SECTION("more tokens than the swap space holds") {
    Sequence ghost;
    ghost.id = 7;
    ghost.swapped_tokens = ghost.computed = 20;  // never evicted through the policy
    REQUIRE_THROWS_WITH(f.swap->swap_in(ghost), Catch::Contains("sequence 7: swapping in 20 tokens, 0 in swap space"));
  }
}

TEST_CASE("swap preemption: swap_space must be a positive size", "[policies][preemption][errors]") {
  auto doc = config::Document::load_string("preemption: {impl: swap, swap_space: 0 B}\n", "swap.yaml");
  REQUIRE_THROWS_WITH(Registry<Preemption>::instance().make(doc.root().child("preemption"), "recompute"),
                      Catch::Contains("preemption.swap_space"));
}
