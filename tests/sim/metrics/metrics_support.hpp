#pragma once
// A run description and request for recorder / summary tests, without a scenario or SimGrid.
#include "sim/core/request.hpp"
#include "sim/metrics/run_info.hpp"

namespace hetsim::test {

/// `instances` instances of 10 KV blocks each, one pool, `requests` requests.
inline sim::RunInfo run_info(std::size_t requests, std::vector<std::string> features = {}, int instances = 1) {
  sim::RunInfo info;
  info.scenario = "unit";
  info.model = "m";
  info.fleet = "f";
  info.requests = requests;
  for (int i = 0; i < instances; ++i)
    info.instances.push_back({.pool = "pool", .device = "dev", .device_kind = "gpu", .tensor_parallel = 1,
                              .kv_blocks_total = 10, .kv_bytes_per_token = 2, .cost_per_hour = 1,
                              .cost_model_source = "test"});
  info.features = std::move(features);
  info.output.steps = sim::StepOutput::full;  // the recorder tests read steps.csv
  return info;
}

inline Request request(std::int64_t id, double arrival, std::int64_t prompt = 10, std::int64_t output = 3) {
  Request r;
  r.id = id;
  r.arrival = arrival;
  r.prompt_tokens = prompt;
  r.output_tokens = output;
  return r;
}

}  // namespace hetsim::test
