// One simulation per TEST_CASE: SimGrid allows one engine per process and ctest runs each case in
// its own process.
#include <catch2/catch.hpp>

#include "hw/cost_model.hpp"
#include "models/step_ops.hpp"
#include "sim/metrics/recorder.hpp"
#include "sim/engine/run_description.hpp"
#include "sim/engine/scenario.hpp"
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
    models::step_ops(sc.model, b, plan.tensor_parallel, ops);
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
  sim::run_serving(sc, recorder);
  const auto& r = recorder.requests().at(0);
  REQUIRE(r.status == sim::RequestStatus::completed);
  const Expected e = expected_times(sc, 1000, 50);
  CHECK(r.first_scheduled == Approx(r.arrival).margin(1e-12));  // idle replica: no queueing
  CHECK(r.ttft() == Approx(e.ttft).epsilon(1e-9));
  CHECK(r.tpot() == Approx(e.tpot).epsilon(1e-9));
  CHECK(r.ttft() >= e.ttft_bound);
  CHECK(r.tpot() >= e.tpot_bound);
  // Decode of a dense model at batch 1 is weight-read bound: TPOT is at least weights / HBM bandwidth.
  const double weights = sc.model.weight_bytes_per_device(tp);
  CHECK(r.tpot() >= weights / sc.replicas.front().device->memory_bandwidth);
  CHECK(recorder.replicas().front().steps == 50);
}

}  // namespace

TEST_CASE("engine: a single request on an idle H100 takes exactly its ops' cost-model time", "[engine]") {
  check_single_request("llama-3-8b", "h100-sxm5-80gb", 1);
}

TEST_CASE("engine: a single request on 4 tensor-parallel A100s includes its all-reduces", "[engine]") {
  check_single_request("llama-3-70b", "a100-sxm4-80gb", 4);
}
