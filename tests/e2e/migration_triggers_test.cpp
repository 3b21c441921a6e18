// Migration triggers end to end on a bursty cluster (Llumnix's de-fragmentation and load
// balancing): conservation, determinism and the effect on the tail.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace hetsim;

namespace {

nlohmann::json run(const test::TempDir& dir, const std::string& name, const std::string& controllers) {
  const std::string scenario = test::source_dir() + "/scenarios/llumnix_migration.yaml";
  const auto r = test::run_hetsim(fmt::format("run --quiet '{}' --out '{}' --set 'policies.controllers={}' --set workload.num_requests=1500",
                                              scenario, dir.file(name), controllers));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(test::read_file(dir.file(name + "/summary.json")));
}

}  // namespace

TEST_CASE("migrate_defrag: moves sequences off instances whose first waiting request lacks room, conserving every request",
          "[e2e][migration]") {
  test::TempDir dir("defrag");
  const auto none = run(dir, "none", "[]");
  const auto defrag = run(dir, "defrag", "[{impl: migrate_defrag}]");
  const auto again = run(dir, "again", "[{impl: migrate_defrag}]");
  CHECK(test::read_file(dir.file("defrag/requests.csv")) == test::read_file(dir.file("again/requests.csv")));
  const auto& m = defrag.at("migrations");
  CHECK(m.at("done").get<int>() > 0);
  CHECK(m.at("bytes").get<double>() > 0);
  // Conservation: the same requests and output tokens, every one completed.
  CHECK(defrag.at("requests").at("completed") == none.at("requests").at("completed"));
  CHECK(defrag.at("requests").at("total") == 1500);
  CHECK(defrag.at("throughput").at("output_tokens_per_s").get<double>() * defrag.at("duration_s").get<double>() ==
        Approx(none.at("throughput").at("output_tokens_per_s").get<double>() * none.at("duration_s").get<double>()).epsilon(1e-9));
  // Room made where a request waits for it: the queueing tail shrinks.
  CHECK(defrag.at("latency_s").at("ttft").at("p99").get<double>() < none.at("latency_s").at("ttft").at("p99").get<double>());
}
