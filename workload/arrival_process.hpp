#pragma once
// An open arrival process (workload.arrival): Poisson, or gamma inter-arrival times whose
// coefficient of variation sets the burstiness (CV = 1 is Poisson).
//   arrival: {process: poisson, rate: 4}
//   arrival: {process: gamma, rate: 4, cv: 3}
#include <string>

#include "sim/core/config.hpp"
#include "sim/core/rng.hpp"

namespace hetsim::workload {

struct ArrivalProcess {
  std::string process = "poisson";
  double rate = 1, cv = 1;

  /// Reads an `arrival` section.
  static ArrivalProcess parse(const config::Node& arrival) {
    ArrivalProcess a;
    a.process = arrival.get<std::string>("process").default_to("poisson").one_of({"poisson", "gamma"});
    a.rate = arrival.get<double>("rate").in_range(1e-9, 1e9);
    a.cv = a.process == "gamma" ? arrival.get<double>("cv").default_to(1.0).in_range(0.01, 100.0).value() : 1.0;
    return a;
  }
  /// The next inter-arrival time, seconds, drawn from `rng`.
  double gap(Rng& rng) const {
    if (process == "poisson") return rng.exponential(rate);
    const double shape = 1.0 / (cv * cv);
    return rng.gamma(shape, 1.0 / (rate * shape));
  }
};

}  // namespace hetsim::workload
