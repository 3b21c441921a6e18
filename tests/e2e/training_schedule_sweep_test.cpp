// The shipped pipeline-schedule sweep (sweeps/train_llama3_70b_schedules.yaml, README "Pipeline
// schedules"): every schedule runs on the 70B scenario, and the bubble and memory fall in the order
// the schedules' papers give them.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace hetsim;

TEST_CASE("training schedules: the Llama-3-70B sweep orders the schedules by bubble and memory", "[e2e][training]") {
  test::TempDir dir("train_schedules");
  const auto r = test::run_hetsim(fmt::format("sweep '{}/sweeps/train_llama3_70b_schedules.yaml' --quiet --out '{}'",
                                              test::source_dir(), dir.file("sweep")));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  // Each point's summary and ranks (points.csv quotes the schedule's map, which test::read_csv does
  // not parse): gpipe, 1f1b, zb_h1, interleaved_1f1b v2, dualpipe_v, dualpipe.
  std::vector<double> step, memory, bubble;
  for (int i = 0; i < 6; ++i) {
    INFO("point " << i);
    const auto summary =
        nlohmann::json::parse(test::read_file(dir.file(fmt::format("sweep/points/p{:04d}/summary.json", i))));
    step.push_back(summary["training"]["step_time_s"].get<double>());
    memory.push_back(summary["training"]["peak_memory_gib"].get<double>());
    double sum = 0;
    const auto ranks = test::read_csv(dir.file(fmt::format("sweep/points/p{:04d}/ranks.csv", i)));
    REQUIRE(!ranks.empty());
    for (const auto& rank : ranks) sum += std::stod(rank.at("pp_bubble_s"));
    bubble.push_back(sum / static_cast<double>(ranks.size()));
  }
  // GPipe and 1F1B share the bubble (p-1)/m; GPipe holds all 16 micro-batches, 1F1B at most p.
  CHECK(step[0] == Approx(step[1]).epsilon(1e-9));
  CHECK(memory[0] > memory[1] + 20);
  // Each later schedule shrinks the bubble: ZB-H1's deferred weight passes, interleaving's smaller
  // chunks, DualPipeV's paired directions in a V, DualPipe's two copies filling each other's.
  for (std::size_t i = 2; i < bubble.size(); ++i) {
    INFO("point " << i);
    CHECK(bubble[i] < bubble[i - 1]);
    CHECK(step[i] < step[i - 1]);
  }
  // ZB-H1 holds what 1F1B holds; the rest pay in memory, DualPipe most (both copies' weights).
  CHECK(memory[2] == Approx(memory[1]).epsilon(1e-12));
  for (std::size_t i = 3; i < memory.size(); ++i) CHECK(memory[i] > memory[i - 1]);
}
