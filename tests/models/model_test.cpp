#include <catch2/catch.hpp>

#include "catalog_entries.hpp"

using namespace hetsim;

TEST_CASE("models: parameter counts match the published totals", "[models]") {
  // Exact totals from the Hugging Face safetensors metadata of each checkpoint.
  CHECK(test::catalog_model("llama-2-7b").parameters() == 6'738'415'616LL);
  CHECK(test::catalog_model("llama-2-70b").parameters() == 68'976'648'192LL);
  CHECK(test::catalog_model("llama-3-8b").parameters() == 8'030'261'248LL);
  CHECK(test::catalog_model("llama-3-70b").parameters() == 70'553'706'496LL);
  CHECK(test::catalog_model("qwen2.5-7b").parameters() == 7'615'616'512LL);  // model card: 7.61B
}

TEST_CASE("models: MHA vs GQA shapes and KV bytes per token", "[models]") {
  const auto l2 = test::catalog_model("llama-2-7b");
  const auto l3 = test::catalog_model("llama-3-8b");
  CHECK(l2.num_key_value_heads == l2.num_attention_heads);  // MHA
  CHECK(l3.num_key_value_heads == 8);                        // GQA
  CHECK(l3.head_dim == 128);
  // 2 (K and V) x 32 layers x 8 KV heads x 128 dims x 2 bytes = 128 KiB per token.
  CHECK(l3.kv_bytes_per_token(1) == 131072.0);
  CHECK(l2.kv_bytes_per_token(1) == 2.0 * 32 * 32 * 128 * 2);
  // Under TP 2 each device holds half the KV heads; past 8 KV heads they are replicated.
  CHECK(l3.kv_bytes_per_token(2) == 65536.0);
  CHECK(l3.kv_bytes_per_token(16) == l3.kv_bytes_per_token(8));
}

TEST_CASE("models: weights split over tensor-parallel devices", "[models]") {
  const auto m = test::catalog_model("llama-3-70b");
  const double total = static_cast<double>(m.parameters()) * 2;
  CHECK(m.weight_bytes_per_device(1) == Approx(total));
  // Only the small norm weights are replicated, so 4 devices hold just over a quarter each.
  CHECK(m.weight_bytes_per_device(4) > total / 4);
  CHECK(m.weight_bytes_per_device(4) < total / 4 * 1.001);
}

TEST_CASE("models: a tensor-parallel degree that does not divide the heads is rejected", "[models]") {
  const auto m = test::catalog_model("llama-3-8b");
  auto d = config::Document::load_string("cluster:\n  tensor_parallel: 3\n", "s.yaml");
  REQUIRE_THROWS_WITH(m.check_tensor_parallel(3, d.root().child("cluster"), "tensor_parallel"),
                      Catch::Contains("s.yaml:2: cluster.tensor_parallel = 3"));
  m.check_tensor_parallel(8, d.root().child("cluster"), "tensor_parallel");
}

TEST_CASE("models: malformed model YAML names the key path", "[models]") {
  auto d = config::Document::load_string("model:\n  preset: llama-3-8b\n  num_key_value_heads: 5\n", "m.yaml");
  auto layered = catalog::with_preset(d.root(), "model", "models/catalog");
  REQUIRE_THROWS_WITH(models::parse_model(layered.node),
                      Catch::Contains("m.yaml:3: model.num_key_value_heads = 5") && Catch::Contains("divisor"));
}
