#pragma once
// Deterministic random streams. One scenario seed is split into named, independent streams
// (after ns-3's AssignStreams), so adding a consumer never perturbs another's numbers.
// Distributions are implemented here rather than with <random>'s, whose algorithms are
// implementation-defined: the same seed must give byte-identical results on every platform.
#include <cmath>
#include <cstdint>
#include <string_view>

namespace hetsim {

/// SplitMix64 finalizer; used to derive stream seeds.
constexpr std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// xoshiro256** generator with portable distributions.
class Rng {
 public:
  /// A stream identified by `name` under `seed`.
  Rng(std::uint64_t seed, std::string_view name) {
    std::uint64_t h = 1469598103934665603ULL;  // FNV-1a of the stream name
    for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    std::uint64_t s = splitmix64(seed) ^ h;
    for (auto& word : state_) word = s = splitmix64(s);
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }
  /// Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  /// Uniform in (0, 1]: safe to take the log of.
  double uniform_open0() { return 1.0 - uniform(); }
  /// Uniform integer in [lo, hi].
  std::int64_t uniform_int(std::int64_t lo, std::int64_t hi) {
    const auto span = static_cast<std::uint64_t>(hi - lo) + 1;
    return lo + static_cast<std::int64_t>(span == 0 ? next() : next() % span);
  }
  double exponential(double rate) { return -std::log(uniform_open0()) / rate; }
  /// Standard normal by Box-Muller (one value per call; simple and portable).
  double normal() {
    const double u1 = uniform_open0(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }
  /// Gamma(shape, scale) by Marsaglia-Tsang; shape < 1 boosted by U^(1/shape).
  double gamma(double shape, double scale) {
    if (shape < 1.0) return gamma(shape + 1.0, scale) * std::pow(uniform_open0(), 1.0 / shape);
    const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
    while (true) {
      double x, v;
      do {
        x = normal();
        v = 1.0 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const double u = uniform_open0();
      if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v * scale;
    }
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t state_[4];
};

}  // namespace hetsim
