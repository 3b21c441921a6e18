#include "sim/metrics/distribution.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <utility>

namespace hetsim::sim {
namespace {
/// p50/p90/p99 and max of sorted, non-empty values: numpy's linear interpolation at q·(n-1).
void exact_percentiles(const std::vector<double>& v, Stats& s) {
  auto pct = [&](double q) {
    const double pos = q * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const auto hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
  };
  s.p50 = pct(0.50);
  s.p90 = pct(0.90);
  s.p99 = pct(0.99);
  s.max = v.back();
}

/// Sorts keys[0..n) by an LSD radix sort on bytes, through tmp[0..n); returns whichever of the
/// two holds the result. O(n) for the k values of level 0, where std::sort took most of add()'s
/// time. Bytes on which all keys agree (such as the exponent of values of one magnitude) are
/// skipped.
const std::uint64_t* radix_sort(std::uint64_t* keys, std::uint64_t* tmp, std::size_t n) {
  std::array<std::array<std::uint32_t, 256>, 8> counts{};
  for (std::size_t i = 0; i < n; ++i)
    for (unsigned d = 0; d < 8; ++d) ++counts[d][(keys[i] >> (8 * d)) & 0xff];
  for (unsigned d = 0; d < 8; ++d) {
    auto& c = counts[d];
    const unsigned shift = 8 * d;
    if (c[(keys[0] >> shift) & 0xff] == n) continue;
    std::uint32_t start = 0;
    for (auto& bucket : c) start += std::exchange(bucket, start);
    for (std::size_t i = 0; i < n; ++i) tmp[c[(keys[i] >> shift) & 0xff]++] = keys[i];
    std::swap(keys, tmp);
  }
  return keys;
}
}  // namespace

Stats describe(std::vector<double> v) {
  Stats s;
  s.count = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  // The plain sum of the sorted values, as summaries have always computed it (the checked-in
  // golden outputs hold its bits); Distribution's compensated sum may differ in the last bits.
  double sum = 0;
  for (const double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  exact_percentiles(v, s);
  return s;
}

Distribution::Distribution(std::size_t exact_limit, std::size_t compactor_size)
    : exact_limit_(exact_limit), k_(compactor_size) {
  if (k_ < 2 || k_ % 2 != 0) throw std::invalid_argument("Distribution: compactor_size must be even and at least 2");
}

std::size_t Distribution::held() const {
  if (!sketch_) return exact_.size();
  std::size_t n = 0;
  for (const auto& level : levels_) n += level.size();
  return n;
}

void Distribution::start_sketch() {
  sketch_ = true;
  levels_.assign(1, {});
  levels_[0].reserve(k_);
  odd_.assign(1, 0);
  run_.reserve(k_ / 2);
  scratch_.resize(k_);
  // The kept values enter the sketch in their arrival order, as if it had been on from the start
  // (so the error bound depends only on n); the exact buffer is freed on return.
  const std::vector<double> kept = std::move(exact_);
  exact_ = {};
  for (const double x : kept) {
    levels_[0].push_back(key(x));
    if (levels_[0].size() == k_) compact_level0();
  }
}

void Distribution::halve(const std::uint64_t* from, std::size_t h) {
  run_.clear();
  for (std::size_t i = odd_[h]; i < k_; i += 2) run_.push_back(from[i]);
  odd_[h] ^= 1;
  // Keeping every other value of a sorted buffer moves any value's weighted rank by at most the
  // weight of one value at this level.
  rank_error_ += std::int64_t{1} << h;
}

void Distribution::compact_level0() {
  halve(radix_sort(levels_[0].data(), scratch_.data(), k_), 0);
  levels_[0].clear();
  promote(1);
}

void Distribution::promote(std::size_t h) {
  for (;; ++h) {
    if (h == levels_.size()) {
      levels_.emplace_back().reserve(k_ / 2);
      odd_.push_back(0);
    }
    auto& level = levels_[h];
    // Levels above 0 only ever receive runs of k/2, so they hold none or one sorted run: the
    // first waits, the second merges with it into a full, sorted buffer that compacts at once.
    if (level.empty()) {
      level.assign(run_.begin(), run_.end());
      return;
    }
    std::merge(level.begin(), level.end(), run_.begin(), run_.end(), scratch_.begin());
    level.clear();
    halve(scratch_.data(), h);
  }
}

Stats Distribution::stats() const {
  Stats s;
  s.count = count_;
  if (count_ == 0) return s;
  s.mean = sum_.total() / static_cast<double>(count_);
  if (!sketch_) {
    std::vector<double> sorted = exact_;
    std::sort(sorted.begin(), sorted.end());
    exact_percentiles(sorted, s);
    return s;
  }
  s.max = max_;
  s.max_rank_error = rank_error_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> items;  // (key, weight)
  items.reserve(held());
  for (std::size_t h = 0; h < levels_.size(); ++h)
    for (const std::uint64_t x : levels_[h]) items.emplace_back(x, std::uint64_t{1} << h);
  std::sort(items.begin(), items.end());
  // The weights sum to count_; each percentile is the first value whose cumulative weight exceeds
  // the 0-based target rank q·(n-1) (no interpolation between sketch values).
  std::uint64_t below = 0;  // weight of items[0..i)
  std::size_t i = 0;
  const std::pair<double, double*> quantiles[] = {{0.50, &s.p50}, {0.90, &s.p90}, {0.99, &s.p99}};
  for (const auto& [q, out] : quantiles) {
    const double target = q * static_cast<double>(count_ - 1);
    while (i < items.size() && static_cast<double>(below + items[i].second) <= target) below += items[i++].second;
    *out = i < items.size() ? value(items[i].first) : max_;
  }
  return s;
}

}  // namespace hetsim::sim
