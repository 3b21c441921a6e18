#pragma once
// An open arrival process (workload.arrival): Poisson, or gamma inter-arrival times whose
// coefficient of variation sets the burstiness (CV = 1 is Poisson), optionally swinging over a
// period (a day's peak and trough, for autoscaling studies).
//   arrival: {process: poisson, rate: 4}
//   arrival: {process: gamma, rate: 4, cv: 3}
//   arrival: {process: poisson, rate: 4, swing: {period: 24 h, peak_to_trough: 4, peak_at: 14 h}}
// With a swing the rate at time t is rate x (1 + a cos(2 pi (t - peak_at) / period)), a =
// (r - 1) / (r + 1) for peak_to_trough r: `rate` stays the mean over a period. The process runs
// in operational time u (gaps as without the swing) mapped to real time by the inverse of
// L(t) = integral of the rate multiplier from 0 to t (time warping keeps Poisson Poisson, with
// the swinging rate, and a gamma process's burstiness at every rate).
#include <cmath>
#include <numbers>
#include <string>

#include "sim/core/config.hpp"
#include "sim/core/rng.hpp"
#include "sim/core/units.hpp"

namespace hetsim::workload {

struct ArrivalProcess {
  std::string process = "poisson";
  double rate = 1, cv = 1;
  double swing_period = 0;  ///< seconds; 0 = no swing
  double swing_amplitude = 0;  ///< a in [0, 1)
  double swing_peak_at = 0;  ///< seconds into the period

  /// Reads an `arrival` section.
  static ArrivalProcess parse(const config::Node& arrival) {
    ArrivalProcess a;
    a.process = arrival.get<std::string>("process").default_to("poisson").one_of({"poisson", "gamma"});
    a.rate = arrival.get<double>("rate").in_range(1e-9, 1e9);
    a.cv = a.process == "gamma" ? arrival.get<double>("cv").default_to(1.0).in_range(0.01, 100.0).value() : 1.0;
    if (auto swing = arrival.maybe("swing")) {
      a.swing_period = swing->quantity("period", units::Dim::time).required().positive();
      const double r = swing->get<double>("peak_to_trough").required().in_range(1.0, 1e6);
      a.swing_amplitude = (r - 1) / (r + 1);
      a.swing_peak_at = swing->quantity("peak_at", units::Dim::time).default_to("0 s").non_negative();
      if (a.swing_peak_at >= a.swing_period)
        swing->fail_key("peak_at", fmt::format("{:g} s", a.swing_peak_at), fmt::format("less than the period ({:g} s)", a.swing_period));
    }
    return a;
  }
  /// The real time at operational time `u` (u itself without a swing): L^-1(u), by Newton's
  /// method kept inside the bracket [u - aP/pi, u + aP/pi] where L(t) - t stays.
  double real_time(double u) const {
    if (swing_period <= 0 || swing_amplitude <= 0) return u;
    const double w = 2 * std::numbers::pi / swing_period;
    const double a = swing_amplitude;
    auto L = [&](double t) { return t + a / w * (std::sin(w * (t - swing_peak_at)) + std::sin(w * swing_peak_at)); };
    double lo = u - 2 * a / w, hi = u + 2 * a / w, t = u;
    for (int k = 0; k < 100; ++k) {
      const double f = L(t) - u;
      if (std::abs(f) <= 1e-12 * std::max(1.0, std::abs(u))) break;
      (f > 0 ? hi : lo) = t;
      const double next = t - f / (1 + a * std::cos(w * (t - swing_peak_at)));
      t = next > lo && next < hi ? next : (lo + hi) / 2;
    }
    return t;
  }
  /// The next inter-arrival time, seconds, drawn from `rng`.
  double gap(Rng& rng) const {
    if (process == "poisson") return rng.exponential(rate);
    const double shape = 1.0 / (cv * cv);
    return rng.gamma(shape, 1.0 / (rate * shape));
  }
};

}  // namespace hetsim::workload
