#include "sim/metrics/kv_tier_windows.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <tuple>

#include "sim/core/error.hpp"

namespace hetsim::sim {

std::int64_t KvTierWindows::window_of(double t) const { return static_cast<std::int64_t>(std::floor(t / window_)); }

void KvTierWindows::roll(int instance, std::int64_t closing, std::int64_t lookup_tokens, std::vector<KvTierRecord> tiers) {
  if (instance < 0) throw InvariantError(fmt::format("kv_tiers.csv: instance {}", instance));
  if (static_cast<std::size_t>(instance) >= open_.size()) open_.resize(static_cast<std::size_t>(instance) + 1);
  Open& o = open_[static_cast<std::size_t>(instance)];
  if (o.opened && closing >= 0) {
    if (o.tiers.size() != tiers.size())
      throw InvariantError(fmt::format("kv_tiers.csv: instance {} changed its number of KV tiers", instance));
    for (std::size_t t = 0; t < tiers.size(); ++t) {
      KvTierRecord d = tiers[t];
      const KvTierRecord& before = o.tiers[t];
      d.hit_tokens -= before.hit_tokens;
      d.written_tokens -= before.written_tokens;
      d.evicted_blocks -= before.evicted_blocks;
      d.expired_blocks -= before.expired_blocks;
      rows_.push_back({closing, instance, t, std::move(d), lookup_tokens - o.lookup_tokens});
    }
  }
  o.lookup_tokens = lookup_tokens;
  o.tiers = std::move(tiers);
  o.opened = true;
}

std::string KvTierWindows::csv() const {
  std::vector<const Row*> order;
  order.reserve(rows_.size());
  for (const Row& r : rows_) order.push_back(&r);
  std::stable_sort(order.begin(), order.end(), [](const Row* a, const Row* b) {
    return std::tie(a->window, a->instance, a->tier) < std::tie(b->window, b->instance, b->tier);
  });
  std::string out =
      "window_start_s,window_end_s,instance,tier,shared,capacity_blocks,used_blocks,cached_blocks,lookup_tokens,hit_tokens,"
      "written_tokens,evicted_blocks,expired_blocks\n";
  for (const Row* r : order) {
    const KvTierRecord& d = r->delta;
    fmt::format_to(std::back_inserter(out), "{},{},{},{},{},{},{},{},{},{},{},{},{}\n", static_cast<double>(r->window) * window_,
                   static_cast<double>(r->window + 1) * window_, r->instance, d.name, d.shared ? 1 : 0, d.capacity_blocks,
                   d.used_blocks, d.cached_blocks, r->lookup_tokens, d.hit_tokens, d.written_tokens, d.evicted_blocks,
                   d.expired_blocks);
  }
  return out;
}

}  // namespace hetsim::sim
