// vAttention (policies/kv_cache/vattention.cpp): page-granular capacity and the cost of mapping
// pages on demand.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <memory>

#include "sim/core/registry.hpp"
#include "sim/serving/kv_manager.hpp"

using namespace hetsim;
using namespace hetsim::policies;

namespace {
// Llama-3-8B on one device: 32 layers x 8 KV heads x 128 dims x 2 bytes = 2 KiB per token per
// layer and K or V; 128 KiB per token over all 64 buffers.
constexpr double kBytesPerToken = 32 * 2 * 8 * 128 * 2;

struct Manager {
  config::Document doc;
  std::unique_ptr<KvManager> kv;
  explicit Manager(const std::string& extra, double kv_bytes = 64.0 * (1 << 30))
      : doc(config::Document::load_string(
            fmt::format("kv: {{impl: vattention, gpu_memory_utilization: 1.0, activation_reserve: 0 B, watermark: 0{}}}\n", extra),
            "fixture.yaml")) {
    kv = Registry<KvManager>::instance().make(doc.root().child("kv"), "paged");
    kv->size({.device_memory_bytes = kv_bytes, .weight_bytes = 0, .kv_bytes_per_token = kBytesPerToken, .layers = 32});
  }
};

Sequence seq(std::int64_t id) {
  Sequence s;
  s.id = id;
  s.prompt_tokens = 3000;
  s.output_tokens = 10;
  return s;
}
}  // namespace

TEST_CASE("vattention: a request grows by whole page groups, page_size / bytes per token and buffer tokens each",
          "[policies][kv][vattention]") {
  const Manager two_mib("");
  // 2 MiB / 2 KiB = 1,024 tokens per page; a group is one page in each of 64 buffers (128 MiB).
  CHECK(two_mib.kv->block_size() == 1024);
  CHECK(two_mib.kv->total_blocks() == 64 * 1024 / 128);
  const Manager small(", page_size: 64 KiB");
  CHECK(small.kv->block_size() == 32);
  CHECK(small.kv->total_blocks() == 64 * 1024 * 1024 / (64 * 64));
  // The same memory holds the same tokens; what differs is the granularity a request takes it in.
  CHECK(two_mib.kv->total_blocks() * two_mib.kv->block_size() == small.kv->total_blocks() * small.kv->block_size());
  CHECK(two_mib.kv->blocks_for(100) * two_mib.kv->block_size() == 1024);
  CHECK(small.kv->blocks_for(100) * small.kv->block_size() == 128);
}

TEST_CASE("vattention: pages are mapped when the mapped pool grows, at per_page each, and reused once freed",
          "[policies][kv][vattention]") {
  Manager m(", per_page: 10 us, mapping: sync");
  Sequence a = seq(1);
  m.kv->grow(a, 3000);  // 3 groups x 64 pages
  auto w = m.kv->take_host_work();
  CHECK(w.seconds == Approx(3 * 64 * 10e-6));
  CHECK_FALSE(w.overlaps);
  CHECK(m.kv->take_host_work().seconds == 0);  // taken once
  m.kv->grow(a, 3072);                            // still 3 groups
  CHECK(m.kv->take_host_work().seconds == 0);
  m.kv->release(a);
  // Deferred reclamation: the next request reuses the mapped pages; only growth beyond them maps.
  Sequence b = seq(2);
  m.kv->grow(b, 4000);  // 4 groups: one new
  CHECK(m.kv->take_host_work().seconds == Approx(64 * 10e-6));
  Manager bg(", per_page: 10 us");
  Sequence c = seq(3);
  bg.kv->grow(c, 100);
  w = bg.kv->take_host_work();
  CHECK(w.overlaps);
  CHECK(w.seconds == Approx(64 * 10e-6));
}

TEST_CASE("vattention: bad page sizes and keys are one clear error each", "[policies][kv][vattention][errors]") {
  REQUIRE_THROWS_WITH(Manager(", page_size: 1 MiB"), Catch::Contains("kv.page_size") && Catch::Contains("2 MiB"));
  REQUIRE_THROWS_WITH(Manager(", block_size: 16"), Catch::Contains("kv.block_size") && Catch::Contains("page_size"));
  REQUIRE_THROWS_WITH(Manager(", mapping: eager"), Catch::Contains("kv.mapping"));
  REQUIRE_THROWS_WITH(Manager(", per_page: -1 us"), Catch::Contains("kv.per_page"));
}
