// sim::Distribution: exact percentiles up to its limit (the same bits as describe()), then a
// deterministic sketch whose percentiles stay within the rank error it reports, in memory that
// grows by at most half a buffer per doubling of the values.
#include <catch2/catch.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "sim/metrics/distribution.hpp"

using hetsim::sim::describe;
using hetsim::sim::Distribution;
using hetsim::sim::Stats;

namespace {
constexpr double kQuantiles[] = {0.50, 0.90, 0.99};

double percentile(const Stats& s, double q) { return q == 0.50 ? s.p50 : q == 0.90 ? s.p90 : s.p99; }

/// The header's worst case: c·(floor(log2 c) + 1) ranks with c = floor(n/k).
std::int64_t worst_rank_error(std::size_t n, std::size_t k) {
  const std::size_t c = n / k;
  return static_cast<std::int64_t>(c * std::bit_width(c));
}

/// The header's memory bound in sketch mode: (k - 1) + (k/2)·(floor(log2(n/k)) + 1) for n >= k.
std::size_t held_bound(std::size_t n, std::size_t k) {
  return n < k ? n : (k - 1) + k / 2 * std::bit_width(n / k);
}

/// Test inputs of n values in the named order.
std::vector<double> values(const std::string& order, std::size_t n, std::uint64_t seed = 1) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::lognormal_distribution<double> lognormal(-3.0, 1.5);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto x = static_cast<double>(i);
    if (order == "uniform") v[i] = uniform(rng);
    else if (order == "ascending") v[i] = 1e-3 * x;
    else if (order == "descending") v[i] = 1e-3 * (static_cast<double>(n) - x);
    else if (order == "lognormal") v[i] = lognormal(rng);
    else if (order == "pareto") v[i] = 0.01 / std::pow(1.0 - uniform(rng), 1.0 / 1.1);  // alpha 1.1: heavy tail
    else if (order == "duplicates") v[i] = 0.25 * static_cast<double>(rng() % 5);
    else if (order == "constant") v[i] = 3.0;
    // Signs mixed; and values apart only in their last 48 mantissa bits (every byte of the key).
    else if (order == "normal") v[i] = normal(rng);
    else if (order == "nearby") v[i] = 1.0 + std::ldexp(static_cast<double>(rng() >> 16), -52);
    // 256 values near 1 that differ only in byte 0..5 of their bits (so only that radix pass sorts).
    else if (order.starts_with("byte")) v[i] = 1.0 + std::ldexp(static_cast<double>(rng() & 0xff), 8 * (order[4] - '0') - 52);
    // Small and large values interleaved, both drifting: every buffer spans the whole range.
    else if (order == "alternating") v[i] = i % 2 ? x : static_cast<double>(n) - x;
    // The same short ramp over and over: every level-0 buffer holds the same values.
    else if (order == "sawtooth") v[i] = static_cast<double>(i % 97);
    else FAIL("unknown order " << order);
  }
  return v;
}

Distribution fed(const std::vector<double>& v, std::size_t exact_limit = Distribution::kExactLimit,
                 std::size_t compactor_size = Distribution::kCompactorSize) {
  Distribution d(exact_limit, compactor_size);
  for (const double x : v) d.add(x);
  return d;
}

/// Each percentile is an input value whose ranks in the sorted input come within
/// max_rank_error of the target rank floor(q·(n-1)); returns the largest distance seen.
std::int64_t check_ranks(std::vector<double> v, const Stats& s) {
  std::sort(v.begin(), v.end());
  std::int64_t worst = 0;
  for (const double q : kQuantiles) {
    const double p = percentile(s, q);
    const auto lo = std::lower_bound(v.begin(), v.end(), p) - v.begin();
    const auto hi = std::upper_bound(v.begin(), v.end(), p) - v.begin() - 1;  // ranks lo..hi hold p
    const auto target = static_cast<std::int64_t>(std::floor(q * static_cast<double>(v.size() - 1)));
    INFO("q " << q << ": value " << p << " at ranks " << lo << ".." << hi << ", target " << target
              << ", max_rank_error " << s.max_rank_error);
    REQUIRE(lo <= hi);  // one of the inputs
    CHECK(lo <= target + s.max_rank_error);
    CHECK(hi >= target - s.max_rank_error);
    worst = std::max<std::int64_t>(worst, std::max<std::int64_t>(lo - target, target - hi));
  }
  return worst;
}

bool same_bits(double x, double y) { return std::memcmp(&x, &y, sizeof x) == 0; }

/// Every field but the mean (describe() sums differently), bit for bit.
bool same_percentiles(const Stats& a, const Stats& b) {
  return a.count == b.count && same_bits(a.p50, b.p50) && same_bits(a.p90, b.p90) && same_bits(a.p99, b.p99) &&
         same_bits(a.max, b.max) && a.max_rank_error == b.max_rank_error;
}

bool same_bits(const Stats& a, const Stats& b) { return same_percentiles(a, b) && same_bits(a.mean, b.mean); }

/// The mean is within 1e-15 (relative) of a long double sum's (itself compensated: a plain long
/// double sum of 2e6 values near 1 is off by more than that).
bool accurate_mean(const std::vector<double>& v, const Stats& s) {
  long double sum = 0, compensation = 0;
  for (const double x : v) {
    const long double t = sum + x;
    compensation += std::abs(sum) >= std::abs(x) ? (sum - t) + x : (x - t) + sum;
    sum = t;
  }
  const auto mean = static_cast<double>((sum + compensation) / static_cast<long double>(v.size()));
  return std::abs(s.mean - mean) <= 1e-15 * std::abs(mean);
}
}  // namespace

TEST_CASE("sim::Distribution: exact mode returns describe()'s percentiles bit for bit", "[metrics][distribution]") {
  CHECK(same_bits(Distribution().stats(), Stats{}));  // empty: zeros
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> lognormal(0.0, 2.0);
  for (const std::size_t n : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{10}, std::size_t{1000},
                              Distribution::kExactLimit}) {
    std::vector<double> v(n);
    for (auto& x : v) x = lognormal(rng);
    const Stats s = fed(v).stats();
    const Stats want = describe(v);
    INFO("n " << n);
    CHECK(s.count == n);
    CHECK(s.max_rank_error == 0);
    CHECK(want.max_rank_error == 0);
    CHECK(same_percentiles(s, want));
    CHECK(accurate_mean(v, s));
  }
}

TEST_CASE("sim::Distribution: the mean is compensated where a plain sum drifts", "[metrics][distribution]") {
  // 1 then 1e6 values of 1e-16: a plain double sum never moves off 1.
  Distribution d(4);
  d.add(1.0);
  for (int i = 0; i < 1'000'000; ++i) d.add(1e-16);
  const long double exact = (1.0L + 1e6L * 1e-16L) / 1'000'001.0L;
  CHECK(std::abs(d.stats().mean - static_cast<double>(exact)) <= 1e-15 * static_cast<double>(exact));
}

TEST_CASE("sim::Distribution: sketch percentiles stay within the reported rank error", "[metrics][distribution]") {
  constexpr std::size_t kExact = 1000, kK = 256;
  for (const std::string order :
       {"uniform", "ascending", "descending", "lognormal", "pareto", "normal", "nearby", "byte0", "duplicates", "constant",
        "alternating", "sawtooth"})
    for (const std::size_t n : {std::size_t{100'000}, std::size_t{2'000'000}}) {
      const auto v = values(order, n);
      const Distribution d = fed(v, kExact, kK);
      const Stats s = d.stats();
      INFO(order << ", n " << n);
      CHECK(s.count == n);
      CHECK(s.max == *std::max_element(v.begin(), v.end()));
      CHECK(accurate_mean(v, s));
      CHECK(s.max_rank_error > 0);
      CHECK(s.max_rank_error <= worst_rank_error(n, kK));
      check_ranks(v, s);
    }
}

namespace {
/// The compactor as the header describes it, written plainly (std::sort at every level, no
/// merges, no radix keys): the fast one must give the same bits.
Stats reference_sketch(const std::vector<double>& v, std::size_t k) {
  std::vector<std::vector<double>> levels(1);
  std::vector<bool> odd(1);
  std::int64_t error = 0;
  for (const double x : v) {
    levels[0].push_back(x);
    for (std::size_t h = 0; levels[h].size() == k; ++h) {
      if (h + 1 == levels.size()) levels.emplace_back(), odd.push_back(false);
      std::sort(levels[h].begin(), levels[h].end());
      for (std::size_t i = odd[h] ? 1 : 0; i < k; i += 2) levels[h + 1].push_back(levels[h][i]);
      odd[h] = !odd[h];
      levels[h].clear();
      error += std::int64_t{1} << h;
    }
  }
  std::vector<std::pair<double, std::uint64_t>> items;
  for (std::size_t h = 0; h < levels.size(); ++h)
    for (const double x : levels[h]) items.emplace_back(x, std::uint64_t{1} << h);
  std::sort(items.begin(), items.end());
  Stats s;
  s.count = v.size();
  hetsim::sim::CompensatedSum sum;
  for (const double x : v) sum.add(x);
  s.mean = sum.total() / static_cast<double>(v.size());
  s.max = *std::max_element(v.begin(), v.end());
  s.max_rank_error = error;
  for (const double q : kQuantiles) {
    const double target = q * static_cast<double>(v.size() - 1);
    std::uint64_t cumulative = 0;
    std::size_t i = 0;
    while (static_cast<double>(cumulative += items[i].second) <= target) ++i;
    (q == 0.50 ? s.p50 : q == 0.90 ? s.p90 : s.p99) = items[i].first;
  }
  return s;
}
}  // namespace

TEST_CASE("sim::Distribution: the sketch is the plain compactor, bit for bit", "[metrics][distribution]") {
  for (const std::string order :
       {"uniform", "descending", "lognormal", "normal", "nearby", "duplicates", "alternating", "sawtooth", "byte0", "byte1",
        "byte2", "byte3", "byte4", "byte5"})
    for (const std::size_t k : {std::size_t{2}, std::size_t{64}, std::size_t{1000}}) {
      const auto v = values(order, 200'000, 21);
      const Stats want = reference_sketch(v, k);
      INFO(order << ", k " << k);
      CHECK(same_bits(fed(v, 0, k).stats(), want));
      CHECK(same_bits(fed(v, 5000, k).stats(), want));  // kept values join the sketch as if it had always run
      // The rank error reported is the closed form of the header.
      std::int64_t closed_form = 0;
      for (std::size_t c = v.size() / k, w = 1; w <= c; w *= 2) closed_form += static_cast<std::int64_t>(w * (c / w));
      CHECK(want.max_rank_error == closed_form);
    }
}

TEST_CASE("sim::Distribution: defaults at 2e6 values keep p99 within the documented relative error",
          "[metrics][distribution]") {
  constexpr std::size_t n = 2'000'000;
  const auto v = values("lognormal", n, 3);
  const Stats s = fed(v).stats();
  const double bound = static_cast<double>(std::bit_width(n / Distribution::kCompactorSize)) /
                       static_cast<double>(Distribution::kCompactorSize);  // (floor(log2(n/k)) + 1)/k
  CHECK(s.max_rank_error > 0);
  CHECK(static_cast<double>(s.max_rank_error) / n <= bound);
  const double observed = static_cast<double>(check_ranks(v, s)) / n;
  CHECK(observed <= bound);
}

TEST_CASE("sim::Distribution: memory stays within the bound and grows by half a buffer per doubling",
          "[metrics][distribution]") {
  SECTION("small buffers, 5e6 values") {
    constexpr std::size_t kExact = 1000, kK = 256, n = 5'000'000;
    Distribution d(kExact, kK);
    std::mt19937_64 rng(11);
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    std::vector<std::size_t> peak_by_doubling(std::bit_width(n) + 1, 0);  // [2^j, 2^(j+1)): peak held()
    for (std::size_t i = 1; i <= n; ++i) {
      d.add(uniform(rng));
      const std::size_t held = d.held();
      const std::size_t bound = i <= kExact ? i : held_bound(i, kK);
      if (held > bound) FAIL("held " << held << " > " << bound << " after " << i << " values");
      auto& peak = peak_by_doubling[std::bit_width(i) - 1];
      peak = std::max(peak, held);
    }
    CHECK(d.held() <= held_bound(n, kK));
    // Past the switch, one more half-buffer level per doubling at most.
    for (std::size_t j = std::bit_width(4 * kExact); j + 1 < peak_by_doubling.size() && peak_by_doubling[j + 1]; ++j) {
      INFO("values in [2^" << j << ", 2^" << j + 2 << ")");
      CHECK(peak_by_doubling[j + 1] <= peak_by_doubling[j] + kK / 2);
    }
  }
  SECTION("defaults, 5e6 values") {
    const Distribution d = fed(values("uniform", 5'000'000, 5));
    CHECK(d.held() <= held_bound(5'000'000, Distribution::kCompactorSize));
    CHECK(d.held() * 50 < 5'000'000);  // against every value kept
  }
}

TEST_CASE("sim::Distribution: the same input gives the same bits", "[metrics][distribution]") {
  const auto v = values("pareto", 300'000, 9);
  const Stats a = fed(v, 1000, 256).stats(), b = fed(v, 1000, 256).stats();
  CHECK(a.max_rank_error > 0);
  CHECK(same_bits(a, b));
  CHECK(std::memcmp(&a, &b, sizeof a) == 0);  // no padding in Stats: the whole object too
  const Stats c = fed(v).stats(), d = fed(v).stats();
  CHECK(same_bits(c, d));
}

TEST_CASE("sim::Distribution: the switch from exact values to the sketch", "[metrics][distribution]") {
  SECTION("at the limit: still exact; one more: sketch with compactions already done") {
    const auto v = values("lognormal", 1001, 13);
    const std::vector<double> first(v.begin(), v.end() - 1);
    Distribution d = fed(first, 1000, 256);
    CHECK(d.held() == 1000);
    CHECK(same_percentiles(d.stats(), describe(first)));
    d.add(v.back());
    const Stats s = d.stats();
    // 1001 values through buffers of 256: level 0 compacted 3 times, level 1 once.
    CHECK(s.max_rank_error == 3 + 2);
    CHECK(d.held() == 1001 - 3 * 256 + 128 + 128);
    check_ranks(v, s);
  }
  SECTION("switch before any compaction: no rank error, so exact order statistics") {
    const auto v = values("uniform", 256, 17);
    Distribution d(100, 256);
    std::vector<double> seen;
    for (std::size_t i = 0; i < 255; ++i) {
      d.add(v[i]);
      seen.push_back(v[i]);
      if (seen.size() <= 100) continue;
      const Stats s = d.stats();
      REQUIRE(s.max_rank_error == 0);
      std::vector<double> sorted = seen;
      std::sort(sorted.begin(), sorted.end());
      for (const double q : kQuantiles)
        REQUIRE(percentile(s, q) == sorted[static_cast<std::size_t>(std::floor(q * static_cast<double>(seen.size() - 1)))]);
      REQUIRE(s.max == sorted.back());
    }
    d.add(v[255]);  // the first compaction
    CHECK(d.stats().max_rank_error == 1);
    check_ranks(v, d.stats());
  }
  SECTION("no exact buffer at all") {
    const auto v = values("alternating", 50'000);
    const Stats s = fed(v, 0, 64).stats();
    CHECK(s.max_rank_error > 0);
    check_ranks(v, s);
  }
}

TEST_CASE("sim::Distribution: the sketch buffer size must be even", "[metrics][distribution]") {
  CHECK_THROWS_AS(Distribution(10, 255), std::invalid_argument);
  CHECK_THROWS_AS(Distribution(10, 0), std::invalid_argument);
  CHECK_NOTHROW(Distribution(10, 2));
}
