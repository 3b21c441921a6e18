// Expert tensor parallelism end to end: the expert gradients reduce over the ranks that hold the
// same expert shard (same place in their etp x ep group), so splitting experts in width (ep 2 x
// etp 2) reduces like spreading them whole over as many ranks (ep 4): same shard size, same rings.
// The shipped layout sweep runs, in the directions its layouts imply.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "sim/engine/one_gpu_nodes.hpp"
#include "support.hpp"

using namespace hetsim;

namespace {

/// A column of a run's CSV file, as numbers.
std::vector<double> column(const std::string& csv, const std::string& name) {
  std::vector<double> out;
  for (const auto& row : test::read_csv(csv)) out.push_back(std::stod(row.at(name)));
  return out;
}

}  // namespace

TEST_CASE("expert TP: expert gradients reduce over the ranks holding the same shard", "[e2e][training][moe]") {
  test::TempDir dir("expert_tp");
  // Eight one-GPU nodes, dp 8 over a one-layer Mixtral; no overlap, so the rings after the
  // backward are what dp_comm measures.
  const auto run = [&](int ep, int etp) {
    const std::string name = fmt::format("ep{}_etp{}", ep, etp);
    const auto file = dir.write(name + ".yaml", std::string(test::kOneGpuNodes) + fmt::format(R"(
model: {{preset: mixtral-8x7b, name: mixtral-1-layer, num_hidden_layers: 1}}
training:
  seq_len: 2048
  global_batch: 8
  parallel: {{dp: 8, ep: {}, etp: {}}}
  overlap: {{grad_reduce: false}}
  iterations: 1
)",
                                                                                                 ep, etp));
    const auto r = test::run_hetsim(fmt::format("run --quiet '{}' --out '{}'", file, dir.file(name)));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    return column(dir.file(name + "/ranks.csv"), "dp_comm_s");
  };
  const auto whole = run(4, 1), split = run(2, 2), fewer = run(2, 1);
  REQUIRE(whole.size() == 8);
  REQUIRE(split.size() == 8);
  for (std::size_t r = 0; r < whole.size(); ++r) {
    INFO("rank " << r);
    REQUIRE(whole[r] > 0);
    CHECK(split[r] == Approx(whole[r]).epsilon(1e-9));
    // Whole experts over ep 2: twice the expert bytes per rank, over rings of 4 ranks: slower.
    CHECK(fewer[r] > 1.5 * whole[r]);
  }
}

TEST_CASE("expert TP: the Mixtral layout sweep", "[e2e][training][moe]") {
  // sweeps/train_mixtral_expert_layouts.yaml (README "Training", MoE): 64 H100s, attention at tp
  // 1 to 8, the experts whole over ep, split over etp x ep, or over tp without ep.
  test::TempDir dir("expert_tp_sweep");
  const auto r = test::run_hetsim(fmt::format("sweep '{}/sweeps/train_mixtral_expert_layouts.yaml' --quiet --out '{}'",
                                              test::source_dir(), dir.file("sweep")));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto points = test::read_csv(dir.file("sweep/points.csv"));
  REQUIRE(points.size() == 7);
  const auto num = [&](std::size_t i, const char* key) { return std::stod(points[i].at(key)); };
  const auto ep_comm = [&](std::size_t i) {
    return column(dir.file(fmt::format("sweep/points/p{:04d}/ranks.csv", i)), "ep_comm_s").at(0);
  };
  for (std::size_t i = 0; i < points.size(); ++i) CHECK(points[i].at("status") == "ok");
  // tp 2: ep 8 x etp 1 and ep 4 x etp 2 hold 1/8 of the experts per rank (same peak memory), ep 8 x
  // etp 2 1/16 (the least); its expert-parallel group, 8 ranks 2 apart, spans two nodes, so its
  // all-to-alls cost more than ep 4 x etp 2's in one node.
  CHECK(num(2, "train_peak_memory_gib") == Approx(num(1, "train_peak_memory_gib")).epsilon(1e-9));
  CHECK(num(3, "train_peak_memory_gib") < num(1, "train_peak_memory_gib") - 5);
  CHECK(ep_comm(3) > 2 * ep_comm(2));
  CHECK(ep_comm(2) > ep_comm(1));  // the expert-TP gathers and reduce-scatters on top of the all-to-alls
  // No expert parallelism: the experts' tensor-parallel collectives over tp 8 make it the slowest.
  for (std::size_t i = 0; i + 1 < points.size(); ++i) CHECK(num(6, "train_tokens_per_s") < num(i, "train_tokens_per_s"));
  CHECK(ep_comm(6) == 0);
}
