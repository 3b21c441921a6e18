#pragma once
// A streaming summary of one distribution (count, mean, p50/p90/p99, max) whose memory does not
// grow with the number of values.
//
// Guarantee. count and max are exact; mean is the Neumaier-compensated sum, accumulated in
// insertion order, over count. Up to `exact_limit` values are kept, and the percentiles are then
// exactly describe()'s (numpy's default: linear interpolation between order statistics), with
// max_rank_error = 0. Past that the values go into a deterministic multi-level compactor
// sketch (no randomness: the same input sequence gives bit-identical Stats) and each percentile
// is one of the input values: for q in {.5, .9, .99} with target rank r = floor(q·(n-1))
// (0-based), the ranks that value occupies in the sorted input come within max_rank_error of r.
// (The sketch orders values by their bits' total order: -0 below +0, NaNs at the ends.)
//
// Sketch (MRL/KLL-style, capacity k = compactor_size at every level). Level h holds values of
// weight 2^h. Level 0 takes each new value; when it reaches k values it is sorted and every other
// value (starting at offsets 0 and 1 alternately, which keeps the errors from all leaning one way)
// moves up with twice the weight. Levels h >= 1 thus receive sorted runs of k/2 and hold 0 or k/2
// values; a second run merges with the first (linear, no sort) and compacts the same way. Total
// weight stays n. One compaction of level h changes the weighted rank of any value by at most
// 2^h, and max_rank_error is the sum of 2^h over the compactions done: a hard bound, not an
// estimate. With c = floor(n/k) compactions of level 0, level h compacts floor(c/2^h) times, so
//     max_rank_error = sum_h 2^h·floor(c/2^h) <= c·(floor(log2 c) + 1)
//                    ~= (n/k)·(floor(log2(n/k)) + 1) ranks,
// i.e. a relative rank error of at most (floor(log2(n/k)) + 1)/k: with the defaults 3.8e-4 at
// n = 2e6, 6.1e-4 at n = 1e7. (Observed errors are far smaller: the per-compaction errors
// mostly cancel.)
//
// Memory. held() <= exact_limit while exact. The switch passes the kept values through the
// sketch, then frees them; from then on held() <= (k - 1) + (k/2)·(floor(log2(n/k)) + 1) for
// n >= k, i.e. one more half-buffer per doubling of n, plus fixed scratch of 1.5·k values for
// compaction. add() costs amortised O(1) (level 0 is radix sorted, upper levels merged) with no
// allocation except when a new level first appears.
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace hetsim::sim {

struct Stats {
  std::size_t count = 0;
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
  /// 0: percentiles exact (linear interpolation between order statistics, numpy's default).
  /// Otherwise they come from a sketch and each may be off by at most this many ranks.
  std::int64_t max_rank_error = 0;
};

/// A sum accumulated with Neumaier's compensation: the compensation keeps the low-order bits
/// that each `sum + x` rounds away, so the total does not drift over millions of values.
struct CompensatedSum {
  double sum = 0, compensation = 0;
  void add(double x) {
    const double t = sum + x;
    compensation += std::abs(sum) >= std::abs(x) ? (sum - t) + x : (x - t) + sum;
    sum = t;
  }
  /// An infinite sum stays infinite (its compensation would be NaN).
  double total() const { return std::isfinite(sum) ? sum + compensation : sum; }
};

/// Mean and linearly interpolated percentiles (numpy's default) of all the values; zeros when
/// empty. Percentiles and max are the bits Distribution gives in exact mode; the mean is the plain
/// sum of the sorted values (as before Distribution), so it may differ from Distribution's in the
/// last bits.
Stats describe(std::vector<double> values);

class Distribution {
 public:
  static constexpr std::size_t kExactLimit = std::size_t{1} << 16;     ///< values kept exactly
  static constexpr std::size_t kCompactorSize = std::size_t{1} << 14;  ///< sketch buffer per level (even)

  /// Throws std::invalid_argument unless compactor_size is even and at least 2.
  explicit Distribution(std::size_t exact_limit = kExactLimit, std::size_t compactor_size = kCompactorSize);

  void add(double x) {
    if (count_ == 0 || x > max_) max_ = x;
    ++count_;
    sum_.add(x);
    if (!sketch_) {
      if (exact_.size() < exact_limit_) return exact_.push_back(x);
      start_sketch();
    }
    levels_[0].push_back(key(x));
    if (levels_[0].size() == k_) compact_level0();
  }

  Stats stats() const;
  std::size_t count() const { return count_; }
  /// Values held in memory now (the exact buffer or the sketch's levels; not the fixed scratch).
  std::size_t held() const;

 private:
  /// The sketch holds doubles as unsigned keys in the same order (negatives' bits flipped, the
  /// sign bit set on the rest), so level 0 can be radix sorted and merges compare integers.
  static std::uint64_t key(double x) {
    const auto bits = std::bit_cast<std::uint64_t>(x);
    return bits ^ (static_cast<std::uint64_t>(static_cast<std::int64_t>(bits) >> 63) | (std::uint64_t{1} << 63));
  }
  static double value(std::uint64_t key) {
    return std::bit_cast<double>(key >> 63 ? key ^ (std::uint64_t{1} << 63) : ~key);
  }
  void start_sketch();
  void compact_level0();
  /// Takes the sorted run in run_ (k/2 values of weight 2^h) into level h, compacting upwards.
  void promote(std::size_t h);
  /// Moves every other value of the sorted from[0..k) (level h) into run_.
  void halve(const std::uint64_t* from, std::size_t h);

  std::size_t exact_limit_, k_;
  std::size_t count_ = 0;
  double max_ = 0;
  CompensatedSum sum_;
  bool sketch_ = false;
  std::vector<double> exact_;
  std::vector<std::vector<std::uint64_t>> levels_;  ///< levels_[h]: keys of values of weight 2^h
  std::vector<unsigned char> odd_;  ///< per level: start the next compaction at offset 1
  std::vector<std::uint64_t> run_;      ///< scratch: a promoted run (k/2)
  std::vector<std::uint64_t> scratch_;  ///< scratch: radix sort and merges (k)
  std::int64_t rank_error_ = 0;
};

}  // namespace hetsim::sim
