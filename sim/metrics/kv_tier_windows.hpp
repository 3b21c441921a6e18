#pragma once
// kv_tiers.csv: what each instance's KV tiers did per window of simulated time (the windows of
// step_windows.csv), for `hetsim report`'s hit-rate and occupancy curves per tier. A caching KV
// manager reports cumulative counters (tier_stats); an instance rolls its window over at the first
// step of a new window, and the row of the window it leaves holds the counters' growth since the
// window opened and the occupancy as the window is left. One tier_stats() call per window and
// instance, not per step, so long runs stay cheap.
//
// Columns: window_start_s, window_end_s, instance, tier, shared (1: one store for all instances,
// the same capacity and occupancy seen from each), capacity_blocks, used_blocks (referenced),
// cached_blocks (free, content kept), lookup_tokens (prompt tokens looked up at the instance's
// admissions in the window, repeated on each of its tier rows), hit_tokens (of those, found in this
// tier), written_tokens, evicted_blocks, expired_blocks (dropped by the tier's time to live).
#include <cstdint>
#include <string>
#include <vector>

#include "sim/metrics/records.hpp"

namespace hetsim::sim {

class KvTierWindows {
 public:
  explicit KvTierWindows(double window_seconds) : window_(window_seconds) {}
  double window() const { return window_; }
  /// The window simulated time `t` falls in.
  std::int64_t window_of(double t) const;
  /// Instance `instance` leaves window `closing` (-1: none yet) with `lookup_tokens` looked up
  /// since the run began and its tiers as `tiers` (cumulative counters, current occupancy): the
  /// window's rows are kept, and `tiers` opens the next window.
  void roll(int instance, std::int64_t closing, std::int64_t lookup_tokens, std::vector<KvTierRecord> tiers);
  /// The rows in window, instance, tier order.
  std::string csv() const;

 private:
  struct Open {
    std::int64_t lookup_tokens = 0;
    std::vector<KvTierRecord> tiers;
    bool opened = false;
  };
  struct Row {
    std::int64_t window;
    int instance;
    std::size_t tier;  ///< order among the instance's tiers
    KvTierRecord delta;  ///< counters: growth over the window; occupancy and capacity: at its end
    std::int64_t lookup_tokens;
  };
  double window_;
  std::vector<Open> open_;  ///< per instance
  std::vector<Row> rows_;
};

}  // namespace hetsim::sim
