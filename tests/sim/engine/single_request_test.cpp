// One simulation per TEST_CASE: SimGrid allows one engine per process and ctest runs each case in
// its own process.
#include <catch2/catch.hpp>

#include <algorithm>

#include "hw/cost_model.hpp"
#include "models/step_ops.hpp"
#include "sim/metrics/recorder.hpp"
#include "sim/scenario/run_description.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/engine/serving_engine.hpp"

using namespace hetsim;

namespace {

struct Expected {
  double ttft = 0, tpot = 0, ttft_bound = 0, tpot_bound = 0;
};

/// TTFT and TPOT of a lone request computed straight from the model's ops and the cost model.
Expected expected_times(const sim::Scenario& sc, std::int64_t prompt, std::int64_t output) {
  const auto& plan = sc.replicas.front();
  const hw::CostModel cost(*plan.device);
  std::vector<Op> ops;
  Expected e;
  auto price = [&](const models::BatchShape& b, double& time, double& bound) {
    models::step_ops(sc.model, b, plan.parallel.tp, ops);
    for (const Op& op : ops) {
      time += cost.time(op);
      bound += cost.roofline_bound(op);
    }
  };
  models::BatchShape prefill;
  prefill.add_prefill(prompt, 0, true);
  price(prefill, e.ttft, e.ttft_bound);
  for (std::int64_t j = 1; j < output; ++j) {
    models::BatchShape decode;
    decode.add_decode(prompt + j);
    price(decode, e.tpot, e.tpot_bound);
  }
  e.tpot /= static_cast<double>(output - 1);
  e.tpot_bound /= static_cast<double>(output - 1);
  return e;
}

void check_single_request(const std::string& model, const std::string& device, int tp) {
  const std::string yaml = fmt::format(R"(
model: {}
cluster: {{device: {}, replicas: 1, tensor_parallel: {}}}
serving: {{stack: none}}  # the cost model's kernels alone (serving-stack costs: step_pricer_test)
workload:
  source: synthetic
  num_requests: 1
  arrival: {{rate: 1}}
  prompt_tokens: 1000
  output_tokens: 50
)",
                                       model, device, tp);
  auto doc = config::Document::load_string(yaml, "single.yaml");
  sim::Scenario sc = sim::load_scenario(doc);
  sim::Recorder recorder(sim::describe_run(sc), "");
  std::vector<sim::RequestRecord> records;
  recorder.add_request_sink([&](const sim::RequestRecord& rec) { records.push_back(rec); });
  sim::run_serving(sc, recorder);
  REQUIRE(records.size() == 1);
  const auto& r = records.at(0);
  REQUIRE(r.status == sim::RequestStatus::completed);
  const Expected e = expected_times(sc, 1000, 50);
  CHECK(r.first_scheduled == Approx(r.arrival).margin(1e-12));  // idle replica: no queueing
  CHECK(r.ttft() == Approx(e.ttft).epsilon(1e-9));
  CHECK(r.tpot() == Approx(e.tpot).epsilon(1e-9));
  CHECK(r.ttft() >= e.ttft_bound);
  CHECK(r.tpot() >= e.tpot_bound);
  // Decode of a dense model at batch 1 is weight-read bound: TPOT is at least weights / HBM bandwidth.
  const double weights = sc.model.weight_bytes_per_device(tp);
  CHECK(r.tpot() >= weights / sc.replicas.front().device->memory().read_bandwidth);
  CHECK(recorder.replicas().front().steps == 50);
}

}  // namespace

TEST_CASE("engine: a single request on an idle H100 takes exactly its ops' cost-model time", "[engine]") {
  check_single_request("llama-3-8b", "h100-sxm5-80gb", 1);
}

TEST_CASE("engine: a single request on 4 tensor-parallel A100s includes its all-reduces", "[engine]") {
  check_single_request("llama-3-70b", "a100-sxm4-80gb", 4);
}

namespace {

// Hand-written roofline for Llama-3-8B (models/catalog/llama-3-8b.yaml: hidden 4096, FFN 14336,
// 32 query heads and 8 KV heads of 128, 32 layers, vocab 128256, bf16 = 2 bytes) on one H100 SXM5
// (hw/catalog/h100-sxm5-80gb.yaml: 989.4 TFLOPS bf16, 3.35 TB/s, 4 us per kernel launch, and the
// catalog's uncalibrated efficiencies, with no half-saturation sizes). Written out independently of
// models::step_ops and hw::CostModel: each kernel takes max(FLOPs / (peak * e_c), bytes / (bw * e_m)) + 4 us.
constexpr double kPeak = 989.4e12, kBw = 3.35e12, kLaunch = 4e-6;
constexpr double kH = 4096, kFfn = 14336, kHd = 128, kL = 32, kVocab = 128256, kB = 2;

double kernel(double flops, double bytes, double e_c, double e_m) {
  return std::max(flops / (kPeak * e_c), bytes / (kBw * e_m)) + kLaunch;
}
double gemm(double m, double n, double k) {  // e_c 0.70, e_m 0.80; weights k*n, activations in m*k, out m*n
  return kernel(2 * m * n * k, (k * n + m * k + m * n) * kB, 0.70, 0.80);
}
double elementwise(double flops, double bytes) { return kernel(flops, bytes, 0.50, 0.75); }

/// One step with `t` tokens; `attention` is that step's attention kernel time (per layer).
double step(double t, double attention) {
  const double qkv_n = (32 + 2 * 8) * kHd;  // 6144
  const double rope = t * (32 + 8) * kHd;   // q and k elements
  const double per_layer = elementwise(4 * t * kH, 3 * t * kH * kB + kH * kB)  // input RMSNorm + residual
                           + gemm(t, qkv_n, kH) + elementwise(3 * rope, 2 * rope * kB) + attention +
                           gemm(t, kH, kH)                                        // o_proj
                           + elementwise(5 * t * kH, 3 * t * kH * kB + kH * kB)  // post-attention norm
                           + gemm(t, 2 * kFfn, kH)                                // gate_up
                           + elementwise(5 * t * kFfn, 3 * t * kFfn * kB)        // SiLU * up
                           + gemm(t, kH, kFfn);                                   // down
  return elementwise(0, 2 * t * kH * kB)                                         // embedding gather
         + kL * per_layer + elementwise(4 * t * kH, 2 * t * kH * kB + kH * kB)  // final norm
         + gemm(1, kVocab, kH);                                                  // lm_head, one logit row
}

}  // namespace

TEST_CASE("engine: a single Llama-3-8B request on an idle H100 matches a hand-written roofline", "[engine]") {
  constexpr double prompt = 1000, output = 50;
  // Prefill: causal attention over 1000 tokens = 1000 * 1001 / 2 query-key pairs, 4 FLOPs per pair
  // per head dim per head (e_c 0.55); bytes: Q read + O written (2 * 1000 * 32 * 128 * 2) and the
  // KV of 1000 tokens read and written (2 * 8 * 128 * 2 * 2000).
  const double pairs = prompt * (prompt + 1) / 2;
  const double prefill_attn =
      kernel(4 * kHd * 32 * pairs, 2 * prompt * 32 * kHd * kB + 2 * 8 * kHd * kB * 2 * prompt, 0.55, 0.80);
  const double ttft = step(prompt, prefill_attn);
  // Decode step j (1..49) attends over a context of 1000 + j tokens (e_c 0.50, e_m 0.75).
  double decode_sum = 0;
  for (double j = 1; j < output; ++j) {
    const double ctx = prompt + j;
    decode_sum += step(1, kernel(4 * kHd * 32 * ctx, 2 * 32 * kHd * kB + 2 * 8 * kHd * kB * (ctx + 1), 0.50, 0.75));
  }
  const double tpot = decode_sum / (output - 1);
  // Orders of magnitude: decode reads ~16 GB of weights at 0.8 * 3.35 TB/s (~6 ms) plus 32 * 9 + 3
  // launches of 4 us (~1.2 ms); prefill does ~16 TFLOP at 0.7 * 989.4 TFLOPS (~23 ms).
  CHECK(tpot > 6e-3);
  CHECK(tpot < 8e-3);
  CHECK(ttft > 20e-3);
  CHECK(ttft < 30e-3);

  auto doc = config::Document::load_string(
      "model: llama-3-8b\ncluster: {device: {preset: h100-sxm5-80gb, profile: none}, replicas: 1, tensor_parallel: 1}\n"
      "serving: {stack: none}\n"
      "workload: {source: synthetic, num_requests: 1, arrival: {rate: 1}, prompt_tokens: 1000, output_tokens: 50}\n",
      "single.yaml");
  sim::Scenario sc = sim::load_scenario(doc);
  sim::Recorder recorder(sim::describe_run(sc), "");
  std::vector<sim::RequestRecord> records;
  recorder.add_request_sink([&](const sim::RequestRecord& rec) { records.push_back(rec); });
  sim::run_serving(sc, recorder);
  REQUIRE(records.size() == 1);
  const auto& r = records.at(0);
  REQUIRE(r.status == sim::RequestStatus::completed);
  CHECK(r.ttft() == Approx(ttft).epsilon(1e-9));
  CHECK(r.tpot() == Approx(tpot).epsilon(1e-9));
  CHECK(r.e2e() == Approx(ttft + (output - 1) * tpot).epsilon(1e-9));
}
