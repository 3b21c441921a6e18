// The training summary's FLOP rates (sim/metrics/training_results.cpp) from hand-made records.
#include <catch2/catch.hpp>

#include "sim/metrics/training_results.hpp"

using namespace hetsim;

TEST_CASE("training summary: HFU counts the FLOPs the steady iterations executed over their span", "[training][metrics]") {
  sim::TrainingRunInfo info;
  info.gpus = 8;
  info.tp = 4;  // two rank groups of four devices
  info.seq_len = 1024;
  info.global_batch = 8;
  info.model_flops_per_iteration = 8e12;
  info.peak_flops = 1e12;
  sim::TrainingRecords records;
  // The first iteration (warm-up, excluded from the steady figures) executed far more than the
  // others; iterations 2 and 3 differ (their documents' attention).
  records.iterations = {{0.0, 5.0, 9e12}, {5.0, 6.0, 1e12}, {6.0, 7.0, 1.5e12}};
  records.ranks.resize(2);
  records.ranks[0].flops = 6e12;  // per device, over all iterations: 11.5e12 in all
  records.ranks[1].flops = 5.5e12;
  const sim::TrainingSummary s = sim::summarize(info, records);
  REQUIRE(s.step_time == Approx(1.0));
  // Steady: (1 + 1.5) / 2 x 1e12 per device summed over the groups, x 4 devices each, per second,
  // over 8 GPUs of 1 TFLOP/s.
  CHECK(s.hfu == Approx(1.25e12 * 4 / 1.0 / 8 / 1e12));
  CHECK(s.mfu == Approx(8e12 / 1.0 / 8 / 1e12));
  // Replicas simulated once stand for their peers.
  records.replicas_per_record = 2;
  info.gpus = 16;
  CHECK(sim::summarize(info, records).hfu == Approx(s.hfu));
  // One device per group and more steady iterations than devices.
  info.tp = 1;
  info.gpus = 2;
  records.replicas_per_record = 1;
  CHECK(sim::summarize(info, records).hfu == Approx(1.25e12 / 1.0 / 2 / 1e12));
}
