#pragma once
// What cache-aware routers know of a prompt without tokenizing it: its content ids
// (Request::hash_ids), one per `hash_block_tokens` tokens. Only units that lie wholly in the
// prompt count (past it the ids may describe the output), and a unit's hash chains all the
// units before it, so equal hashes mean equal prompt prefixes.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "sim/core/request.hpp"
#include "sim/core/rng.hpp"

namespace hetsim::policies::prompt_prefix {

/// Leading content units of `r` wholly inside its prompt.
inline std::int64_t units(const Request& r) {
  if (r.hash_block_tokens <= 0) return 0;
  const std::int64_t covered = std::min({r.hash_tokens, r.prompt_tokens,
                                         static_cast<std::int64_t>(r.hash_ids.size()) * r.hash_block_tokens});
  return covered / r.hash_block_tokens;
}

/// The chained hashes of `r`'s first min(units(r), max_units) units into `out` (cleared first).
inline void hashes(const Request& r, std::int64_t max_units, std::vector<std::uint64_t>& out) {
  out.clear();
  std::uint64_t h = 0x243f6a8885a308d3ULL;
  for (std::int64_t u = 0, n = std::min(units(r), max_units); u < n; ++u) {
    h = splitmix64(h ^ splitmix64(r.hash_ids[static_cast<std::size_t>(u)]));
    out.push_back(h);
  }
}

}  // namespace hetsim::policies::prompt_prefix
