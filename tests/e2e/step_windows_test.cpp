// step_windows.csv (output.steps: windows, the default) against steps.csv of the same run: every
// step is counted once, in the window in which it ends, and the window sums add up to the steps'.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>

#include "support.hpp"

using namespace hetsim;
using Catch::Matchers::Contains;

namespace {
double num(const std::map<std::string, std::string>& row, const std::string& key) { return std::stod(row.at(key)); }
}  // namespace

TEST_CASE("step windows: sums per replica and window match the run's steps.csv", "[e2e][outputs]") {
  test::TempDir dir("step_windows");
  const std::string base = "run --quiet '" + test::source_dir() + "/scenarios/mixed_fleet.yaml' --set workload.num_requests=300 "
                           "--set output.step_window=250ms --set policies.scheduler.impl=sarathi";
  REQUIRE(test::run_hetsim(base + " --out '" + dir.file("windows") + "'").exit_code == 0);
  REQUIRE(test::run_hetsim(base + " --set output.steps=full --out '" + dir.file("full") + "'").exit_code == 0);
  CHECK(test::read_file(dir.file("windows/requests.csv")) == test::read_file(dir.file("full/requests.csv")));
  const auto windows = test::read_csv(dir.file("windows/step_windows.csv"));
  const auto steps = test::read_csv(dir.file("full/steps.csv"));
  REQUIRE(steps.size() > windows.size());
  REQUIRE(windows.size() > 10);

  // Recompute every window from the steps.
  struct Sums {
    long steps = 0;
    double busy = 0, prefill_s = 0, decode_s = 0, mixed_s = 0, kv_time = 0;
    long prefill_tokens = 0, decode_seqs = 0, kv_total = 0;
  };
  std::map<std::pair<long, long>, Sums> expected;  // (window, replica)
  for (const auto& s : steps) {
    const double start = num(s, "start_s"), dur = num(s, "duration_s");
    const long w = static_cast<long>(std::floor((start + dur) / 0.25));
    Sums& e = expected[{w, std::stol(s.at("replica"))}];
    ++e.steps;
    e.busy += dur;
    const long p = std::stol(s.at("prefill_tokens")), d = std::stol(s.at("decode_seqs"));
    (p > 0 ? (d > 0 ? e.mixed_s : e.prefill_s) : e.decode_s) += dur;
    e.prefill_tokens += p;
    e.decode_seqs += d;
    e.kv_time += num(s, "kv_blocks_used") * dur;
    e.kv_total = std::max(e.kv_total, std::stol(s.at("kv_blocks_total")));
  }
  REQUIRE(windows.size() == expected.size());
  auto it = expected.begin();  // ordered by window, then replica: the file's order
  for (const auto& row : windows) {
    INFO("window " << row.at("window_start_s") << " replica " << row.at("replica"));
    const auto& [key, e] = *it++;
    CHECK(num(row, "window_start_s") == Approx(key.first * 0.25));
    CHECK(num(row, "window_end_s") == Approx((key.first + 1) * 0.25));
    CHECK(std::stol(row.at("replica")) == key.second);
    CHECK(std::stol(row.at("steps")) == e.steps);
    CHECK(num(row, "busy_s") == Approx(e.busy).epsilon(1e-12));
    CHECK(num(row, "busy_prefill_s") + num(row, "busy_decode_s") + num(row, "busy_mixed_s") ==
          Approx(e.busy).epsilon(1e-12));
    CHECK(num(row, "busy_mixed_s") == Approx(e.mixed_s).epsilon(1e-12).margin(1e-15));
    CHECK(std::stol(row.at("prefill_tokens")) == e.prefill_tokens);
    CHECK(std::stol(row.at("decode_seqs")) == e.decode_seqs);
    CHECK(num(row, "kv_blocks_used_mean") == Approx(e.kv_time / e.busy).epsilon(1e-9));
    CHECK(std::stol(row.at("kv_blocks_total_max")) == e.kv_total);
  }
}

TEST_CASE("step windows: output.steps and step_window are checked", "[e2e][outputs]") {
  const std::string quickstart = "validate '" + test::source_dir() + "/scenarios/quickstart.yaml' ";
  auto r = test::run_hetsim(quickstart + "--set output.steps=some");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("output.steps") && Contains("some") && Contains("windows"));
  r = test::run_hetsim(quickstart + "--set output.step_window=0s");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("output.step_window"));
  r = test::run_hetsim(quickstart + "--set output.steps=windows --set output.step_detail=true");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("needs output.steps: full") && Contains("not windows"));
  // The detail alone asks for steps.csv.
  CHECK(test::run_hetsim(quickstart + "--set output.step_detail=true").exit_code == 0);
}
