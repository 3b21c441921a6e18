// Speculative decoding end to end: acceptance 0 never helps, acceptance 1 yields k + 1 tokens per
// verifying step, the configured profile's mean is what the run measures, tokens are conserved
// and runs are deterministic.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace hetsim;

namespace {

/// Llama-3.1-8B on one H100, `clients` closed-loop clients, 1,024-token prompts and 253-token
/// outputs: 252 tokens after the first, a multiple of k + 1 = 6, so every verification has k drafts.
std::string scenario(const test::TempDir& dir, const std::string& name, const std::string& speculative, int clients = 4) {
  return dir.write(name + ".yaml", fmt::format(R"(
model: llama-3.1-8b
cluster: {{device: h100-sxm5-80gb, replicas: 1, tensor_parallel: 1}}
policies:
  scheduler: {{impl: vllm, max_num_seqs: 256, max_num_batched_tokens: 8192}}
  {}
workload:
  source: synthetic
  concurrency: {}
  think_time: 0 s
  num_requests: 120
  prompt_tokens: 1024
  output_tokens: 253
)",
                                                      speculative, clients));
}

nlohmann::json run(const std::string& file, const test::TempDir& dir, const std::string& out) {
  const auto r = test::run_hetsim("run --quiet '" + file + "' --out '" + dir.file(out) + "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(test::read_file(dir.file(out + "/summary.json")));
}
double tpot_p50(const nlohmann::json& s) { return s["latency_s"]["tpot"]["p50"].get<double>(); }

}  // namespace

TEST_CASE("speculative: acceptance 0 is never faster than plain decoding", "[e2e][speculative]") {
  test::TempDir dir("spec_zero");
  for (int clients : {1, 16}) {
    INFO(clients);
    const auto plain = run(scenario(dir, "plain", "", clients), dir, "plain");
    const auto zero =
        run(scenario(dir, "zero", "speculative: {impl: eagle, k: 5, acceptance: [0, 0, 0, 0, 0]}", clients), dir, "zero");
    CHECK(zero["speculative"]["accepted_tokens"].get<double>() == 0);
    CHECK(zero["speculative"]["acceptance_length"].get<double>() == 1.0);
    CHECK(tpot_p50(zero) > tpot_p50(plain));
    CHECK(zero["duration_s"].get<double>() > plain["duration_s"].get<double>());
  }
}

TEST_CASE("speculative: acceptance 1 yields k + 1 tokens per verifying step", "[e2e][speculative]") {
  test::TempDir dir("spec_one");
  const auto s = run(scenario(dir, "one", "speculative: {impl: eagle, k: 5, acceptance: [1, 1, 1, 1, 1]}"), dir, "one");
  CHECK(s["speculative"]["acceptance_rate"].get<double>() == 1.0);
  CHECK(s["speculative"]["acceptance_length"].get<double>() == 6.0);
  // Every request's 252 tokens after the first took 252 / 6 = 42 verifying steps.
  CHECK(s["speculative"]["draft_tokens"].get<double>() == 120.0 * 42 * 5);
  const auto plain = run(scenario(dir, "plain", ""), dir, "plain");
  CHECK(tpot_p50(s) < tpot_p50(plain) / 3);
}

TEST_CASE("speculative: the measured acceptance length matches the configured profile, tokens are conserved",
          "[e2e][speculative]") {
  test::TempDir dir("spec_mean");
  const auto file = scenario(dir, "eagle", "speculative: {impl: eagle, k: 5}");
  const auto s = run(file, dir, "a");
  // The EAGLE-3 default: 1 + 0.58 + 0.34 + 0.22 + 0.15 + 0.11 = 2.40 tokens per verifying step.
  CHECK(s["speculative"]["acceptance_length"].get<double>() == Approx(2.40).epsilon(0.02));
  const auto requests = test::read_csv(dir.file("a/requests.csv"));
  REQUIRE(requests.size() == 120);
  for (const auto& r : requests) CHECK(r.at("output_tokens") == "253");
  CHECK(s["requests"]["completed"].get<int>() == 120);
  // Same scenario, same seed: identical bytes.
  run(file, dir, "b");
  for (const char* f : {"summary.json", "requests.csv", "step_windows.csv"})
    CHECK(test::read_file(dir.file(std::string("a/") + f)) == test::read_file(dir.file(std::string("b/") + f)));
}

TEST_CASE("speculative: speculation pays less as the batch grows, and a draft model's memory comes out of the KV",
          "[e2e][speculative]") {
  test::TempDir dir("spec_batch");
  double last_speedup = 1e9;
  for (int clients : {1, 16, 64}) {
    INFO(clients);
    const auto plain = run(scenario(dir, "plain", "", clients), dir, "plain");
    const auto eagle = run(scenario(dir, "eagle", "speculative: {impl: eagle, k: 5}", clients), dir, "eagle");
    const double speedup = tpot_p50(plain) / tpot_p50(eagle);
    CHECK(speedup < last_speedup);
    last_speedup = speedup;
  }
  const auto plain = run(scenario(dir, "plain", ""), dir, "plain");
  const auto draft = run(scenario(dir, "draft", "speculative: {impl: draft_model, model: llama-3.2-1b, acceptance_length: 2.5}"),
                         dir, "draft");
  const auto& pm = plain["memory"][0];
  const auto& dm = draft["memory"][0];
  CHECK(dm["weights_bytes"].get<double>() > pm["weights_bytes"].get<double>() + 2.4e9);  // Llama-3.2-1B, bf16
  CHECK(dm["kv_blocks"].get<double>() < pm["kv_blocks"].get<double>());
}
