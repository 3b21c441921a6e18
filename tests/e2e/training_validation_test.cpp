// The training validation (validation/training_cases.yaml): every case whose source publishes its
// plan runs, and Megatron-LM's weak-scaling table (Narayanan et al. SC'21, Table 1) is reproduced:
// its median error within 5% and every row within 40% (the worst rows today: the smallest models).
// llm-foundry's rows run and are reported (validation/training_results.md) with their errors not
// bounded here. NeMo's DGX-H100 FP8 rows (tokens/s/GPU) are over-predicted by 16-30% today (25-41%
// before FP8 GEMMs ran at the H100's measured FP8 ceiling); every one must stay within 40%: a guard
// against regressions with a margin, not a pass (see the README's training validation section). DeepSeek-V3 on 2,048 H800s (D1) runs too, over-predicted by 57%
// today: it must stay within 70%, the same kind of guard.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "support.hpp"

using namespace hetsim;

TEST_CASE("training validation: Megatron-LM's weak-scaling table is reproduced, every runnable case runs",
          "[validation][training][e2e]") {
  test::TempDir dir("training_validation");
  const auto r = test::run_hetsim(fmt::format("validation --training --cases '{}/validation/training_cases.yaml' --out '{}' -j 2",
                                              test::source_dir(), dir.file("results.md")));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto rows = test::read_csv(dir.file("results.csv"));
  std::vector<double> megatron;
  int mpt = 0;
  std::vector<double> nemo;
  int deepseek = 0;
  for (const auto& row : rows) {
    if (row.at("id") == "deepseek-v3-h800-2048gpu") {
      ++deepseek;
      CHECK(row.at("metric") == "tokens/s/GPU");
      CHECK(std::abs(std::stod(row.at("error"))) <= 0.70);
    }
    if (row.at("id") == "megatron-bridge-h100-deepseek-v3-1024gpu") {  // TP2 with the experts folded over EP64
      ++deepseek;
      CHECK(row.at("metric") == "tokens/s/GPU");
      CHECK(std::abs(std::stod(row.at("error"))) <= 1.0);  // recorded +76%: a guard against a far larger drift
    }
    const double err = std::abs(std::stod(row.at("error")));
    if (row.at("id").starts_with("megatron-a100-")) megatron.push_back(err);
    if (row.at("id").starts_with("mpt-")) ++mpt;
    if (row.at("id").starts_with("nemo-h100-")) {
      nemo.push_back(err);
      CHECK(row.at("metric") == "tokens/s/GPU");
    }
    CHECK(std::stod(row.at("simulated")) > 0);
  }
  CHECK(mpt == 22);
  CHECK(deepseek == 2);
  REQUIRE(nemo.size() == 9);
  CHECK(*std::max_element(nemo.begin(), nemo.end()) <= 0.40);
  REQUIRE(megatron.size() == 10);
  std::sort(megatron.begin(), megatron.end());
  CHECK(megatron[megatron.size() / 2] <= 0.05);
  CHECK(megatron.back() <= 0.40);
  CHECK_THAT(test::read_file(dir.file("results.md")), Catch::Contains("not run: its source does not publish the plan"));
  CHECK_THAT(test::read_file(dir.file("results.md")),
             Catch::Contains("| megatron-bridge-h100-deepseek-v3-1024gpu | 1024 GPUs, TP2 PP8 CP1 DP64 VP4 EP64,"));
}
