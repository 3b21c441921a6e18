#include <catch2/catch.hpp>

#include "sim/metrics/scaling_totals.hpp"

using namespace hetsim;
using namespace hetsim::sim;

TEST_CASE("scaling totals: provisioned time, mean, peak and least from the event log", "[metrics][scaling]") {
  RunInfo info;
  info.instances.resize(3);
  for (auto& in : info.instances) in.pool = "p";
  info.instances[2].tensor_parallel = 4;
  using E = ScalingEvent;
  // Instances 1 and 2 stop at once at 0; 1 starts at 10, is ready at 30, drains at 60, stops at 70.
  const std::vector<ScalingRecord> log = {
      {.time = 0, .instance = 1, .event = E::drain},  {.time = 0, .instance = 1, .event = E::stop},
      {.time = 0, .instance = 2, .event = E::drain},  {.time = 0, .instance = 2, .event = E::stop},
      {.time = 10, .instance = 1, .event = E::start}, {.time = 30, .instance = 1, .event = E::ready, .weight_bytes = 5, .seconds = 20},
      {.time = 60, .instance = 1, .event = E::drain}, {.time = 70, .instance = 1, .event = E::stop, .seconds = 10},
  };
  const ScalingTotals t = scaling_totals(log, info, 100);
  CHECK(t.provisioned_s == std::vector<double>{100, 60, 0});
  CHECK(t.mean_instances == Approx(1.6));
  CHECK(t.peak_instances == 2);
  CHECK(t.least_instances == 1);  // the fleet of 3 before the events at 0 never lasted
  CHECK(t.device_hours == Approx(160.0 / 3600));
  CHECK(t.starts == 1);
  CHECK(t.readies == 1);
  CHECK(t.stops == 3);
  CHECK(t.weight_bytes == 5);
  const std::string csv = scaling_csv(log, info);
  CHECK(csv.find("30,1,p,ready,2,2,20,5\n") != std::string::npos);
  CHECK(csv.find("70,1,p,stop,1,1,10,0\n") != std::string::npos);
  // No events: the whole fleet all run.
  const ScalingTotals none = scaling_totals({}, info, 50);
  CHECK(none.mean_instances == 3);
  CHECK(none.peak_instances == 3);
  CHECK(none.least_instances == 3);
}
