// Speculative decoding's acceptance model: nested per-position draws, the geometric profile for a
// mean acceptance length, deterministic draws, and key-path errors.
#include <catch2/catch.hpp>

#include <numeric>

#include "catalog_entries.hpp"
#include "sim/serving/speculation.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {
std::shared_ptr<const serving::Speculation> parse(const std::string& yaml, const std::string& model = "llama-3.1-8b") {
  auto d = config::Document::load_string(yaml, "s.yaml");
  return serving::parse_speculation(d.root().section("policies"), test::catalog_model(model), 1, 7);
}
}  // namespace

TEST_CASE("speculation: accepted drafts are the leading positions whose probability exceeds the draw",
          "[serving][speculative]") {
  serving::Speculation s;
  s.k = 4;
  s.acceptance = {0.8, 0.5, 0.5, 0.1};
  CHECK(s.accepted(4, 0.0) == 4);
  CHECK(s.accepted(4, 0.3) == 3);
  CHECK(s.accepted(4, 0.5) == 1);  // not below 0.5: the second position is rejected
  CHECK(s.accepted(4, 0.9) == 0);
  CHECK(s.accepted(2, 0.0) == 2);  // never more than the drafts proposed
  CHECK(s.mean_accepted() == Approx(1.9));
}

TEST_CASE("speculation: draws are deterministic, uniform, and depend on the sequence and position only",
          "[serving][speculative]") {
  serving::Speculation s;
  s.k = 5;
  s.seed = 3;
  s.acceptance = {0.58, 0.34, 0.22, 0.15, 0.11};  // the EAGLE-3 default
  CHECK(s.draw(10, 5) == s.draw(10, 5));
  CHECK(s.draw(10, 5) != s.draw(10, 6));
  CHECK(s.draw(10, 5) != s.draw(11, 5));
  serving::Speculation other = s;
  other.seed = 4;
  CHECK(other.draw(10, 5) != s.draw(10, 5));
  // The mean of accepted drafts over many draws is the sum of the profile (1.40), within 1%.
  double total = 0, sum_u = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double u = s.draw(i % 997, i / 997);
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    sum_u += u;
    total += static_cast<double>(s.accepted(5, u));
  }
  CHECK(sum_u / n == Approx(0.5).epsilon(0.01));
  CHECK(total / n == Approx(1.40).epsilon(0.01));
}

TEST_CASE("speculation: a mean acceptance length gives a geometric profile with that mean", "[serving][speculative]") {
  for (const auto& [k, mean] : {std::pair{7, 2.53}, std::pair{4, 1.0}, std::pair{3, 2.9}}) {
    const auto p = serving::geometric_acceptance(k, mean);
    REQUIRE(p.size() == static_cast<std::size_t>(k));
    CHECK(std::accumulate(p.begin(), p.end(), 0.0) == Approx(mean).epsilon(1e-9));
    for (std::size_t i = 1; i < p.size(); ++i) CHECK(p[i] <= p[i - 1]);
  }
  const auto spec = parse("policies:\n  speculative: {impl: eagle, k: 7, acceptance_length: 3.53}\n");
  REQUIRE(spec);
  CHECK(spec->mean_accepted() == Approx(2.53).epsilon(1e-9));
}

TEST_CASE("speculation: EAGLE's defaults, draft costs and k: 0", "[serving][speculative]") {
  const auto spec = parse("policies:\n  speculative: {impl: eagle, k: 7}\n");
  REQUIRE(spec);
  REQUIRE(spec->acceptance.size() == 7);
  CHECK(spec->acceptance[0] == 0.58);
  CHECK(spec->acceptance[4] == 0.11);
  CHECK(spec->acceptance[5] < 0.11);  // continued geometrically past the measured positions
  // The head is one decoder layer of the target: its KV is 1/32 of Llama-3.1-8B's.
  const auto target = test::catalog_model("llama-3.1-8b");
  CHECK(spec->kv_bytes_per_token == target.kv_bytes_per_token(1) / 32);
  CHECK(spec->draft.num_hidden_layers == 1);
  CHECK(spec->weight_bytes_per_device > target.layer_weight_bytes());
  CHECK(spec->weight_bytes_per_device < 2 * target.layer_weight_bytes());
  CHECK_FALSE(parse("policies:\n  speculative: {impl: eagle, k: 0}\n"));
  CHECK_FALSE(parse("policies:\n  scheduler: {impl: vllm}\n"));
  const auto draft = parse("policies:\n  speculative: {impl: draft_model, model: llama-3.2-1b, acceptance_length: 2}\n");
  REQUIRE(draft);
  CHECK(draft->weight_bytes_per_device == test::catalog_model("llama-3.2-1b").weight_bytes_per_device(1));
}

TEST_CASE("speculation: bad keys name their path", "[serving][speculative][errors]") {
  REQUIRE_THROWS_WITH(parse("policies:\n  speculative: {impl: eagle, k: 3, acceptance: [0.5, 0.6, 0.1]}\n"),
                      Contains("policies.speculative.acceptance") && Contains("cannot grow"));
  REQUIRE_THROWS_WITH(parse("policies:\n  speculative: {impl: eagle, k: 3, acceptance: [0.5, 0.4]}\n"),
                      Contains("policies.speculative.acceptance") && Contains("at least k = 3"));
  REQUIRE_THROWS_WITH(parse("policies:\n  speculative: {impl: eagle, k: 3, acceptance_length: 5}\n"),
                      Contains("policies.speculative.acceptance_length = 5"));
  REQUIRE_THROWS_WITH(parse("policies:\n  speculative: {impl: eagle, acceptance: [1, 1, 1, 1], acceptance_length: 2}\n"),
                      Contains("not both"));
  REQUIRE_THROWS_WITH(parse("policies:\n  speculative: {impl: medusa2}\n"), Contains("policies.speculative.impl"));
  REQUIRE_THROWS_WITH(parse("policies:\n  speculative: {impl: draft_model, model: llama-3.2-1b}\n"),
                      Contains("needs acceptance"));
  REQUIRE_THROWS_WITH(parse("policies:\n  speculative: {impl: draft_model, model: qwen2.5-7b, acceptance_length: 2}\n"),
                      Contains("policies.speculative.model") && Contains("tokenizer"));
}
