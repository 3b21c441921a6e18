// Placement of replicas on node slots: a slot is a device's memory, so a device must match it.
#include <catch2/catch.hpp>

#include "support.hpp"

using namespace hetsim;
using Catch::Contains;

TEST_CASE("placement: a device on a node slot it does not fit is an error naming both", "[e2e][placement][errors]") {
  const auto r = test::run_hetsim("validate '" + test::source_dir() +
                                  "/scenarios/gh200_kv_swap.yaml' --set cluster.device=rtx-4090-24gb");
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("rtx-4090-24gb") && Contains("slot gpu0.hbm") && Contains("'gh200'") &&
                           Contains("24.0 GB") && Contains("96.0 GB"));
  const auto ok = test::run_hetsim("validate '" + test::source_dir() + "/scenarios/gh200_kv_swap.yaml'");
  INFO(ok.output);
  CHECK(ok.exit_code == 0);
}
