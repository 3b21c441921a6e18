#pragma once
// The serving state of one request on a replica. Token accounting (after vLLM):
//   known    = prompt + generated tokens;   computed = tokens whose KV is cached;
//   pending  = known - computed, fed to the model in the next steps.
// A step feeding all pending tokens produces one new token. Recompute-preemption drops the KV
// (computed = 0), so the sequence re-prefills prompt + generated tokens when it is resumed;
// swap-preemption keeps `computed` and moves its blocks to a slower tier until it resumes.
#include <cstdint>
#include <vector>

#include "sim/serving/kv_block_store.hpp"

namespace hetsim::policies {

struct Sequence {
  std::int64_t id = 0;
  double arrival = 0;
  std::int64_t prompt_tokens = 0;
  std::int64_t output_tokens = 0;
  std::int64_t generated = 0;
  std::int64_t computed = 0;
  std::vector<serving::BlockId> blocks;  ///< its KV block table, all in one tier of the store
  serving::KvTierIndex kv_tier = serving::kDeviceTier;  ///< where `blocks` live
  int preemptions = 0;
  int replica = -1;
  std::int32_t tenant = -1;   ///< Request::tenant
  std::int32_t priority = 0;  ///< Request::priority: higher is served first by priority schedulers
  int decode_instance = -1;  ///< decode instance a router planned for it (P/D disaggregation); -1 = none
  bool handed_off = false;   ///< left its instance's running set, its KV in flight to another
  bool migrating = false;    ///< a live migration of it is under way (one at a time)
  double first_scheduled = -1;
  double first_token = -1;
  double completion = -1;
  std::uint64_t batch_mark = 0;  ///< instance and step that last put it in a batch (the duplicate check)
  // Content identity (Request::hash_ids): what a prefix-caching KV manager matches and caches.
  std::vector<std::uint64_t> content_ids;
  std::int32_t content_unit = 0;     ///< tokens per content id
  std::int64_t content_tokens = 0;   ///< leading tokens the ids describe (the rest are its own)
  std::vector<std::uint64_t> block_hashes;  ///< chained hashes of its full described blocks (filled by the KV manager)
  std::int64_t hashed_blocks = 0;    ///< leading blocks of `blocks` that carry their hash
  std::int64_t cached_tokens = -1;   ///< prompt tokens found cached when first admitted; -1 = not yet admitted

  std::int64_t known() const { return prompt_tokens + generated; }
  std::int64_t pending() const { return known() - computed; }
  /// Generating: exactly the last produced token is pending.
  bool decoding() const { return generated > 0 && pending() == 1; }
  bool finished() const { return generated >= output_tokens; }
  /// Most tokens whose KV this sequence can ever hold (its last token is never fed back).
  std::int64_t peak_kv_tokens() const { return prompt_tokens + output_tokens - 1; }
};

}  // namespace hetsim::policies
