#include <catch2/catch.hpp>

#include <algorithm>

#include "models/step_ops.hpp"
#include "catalog_entries.hpp"
#include "op_lookup.hpp"

using namespace hetsim;

namespace {
std::vector<Op> ops_for(const models::ModelSpec& m, const models::BatchShape& b, int tp) {
  std::vector<Op> ops;
  models::step_ops(m, b, tp, ops);
  return ops;
}
const Op* find(const std::vector<Op>& ops, std::string_view name) { return test::find_op(ops, name); }
}  // namespace

TEST_CASE("step ops: one decode token costs 2 FLOPs per weight in the linear layers", "[models][ops]") {
  for (const char* name : {"llama-2-7b", "llama-3-8b", "llama-3-70b"}) {
    INFO(name);
    const auto m = test::catalog_model(name);
    models::BatchShape b;
    b.add_decode(1);
    double gemm_flops = 0;
    for (const Op& op : ops_for(m, b, 1))
      if (op.cls == OpClass::gemm) gemm_flops += op.flops * op.repeat;
    const double linear_weights = static_cast<double>((m.layer_parameters() - 2 * m.hidden_size) * m.num_hidden_layers +
                                                      m.vocab_size * m.hidden_size);
    CHECK(gemm_flops == Approx(2 * linear_weights).epsilon(1e-12));
  }
}

TEST_CASE("step ops: tensor parallelism adds two all-reduces per layer and splits the GEMMs", "[models][ops]") {
  const auto m = test::catalog_model("llama-3-70b");
  models::BatchShape b;
  b.add_prefill(512, 0, true);
  const auto tp1 = ops_for(m, b, 1);
  const auto tp4 = ops_for(m, b, 4);
  CHECK(std::none_of(tp1.begin(), tp1.end(), [](const Op& o) { return o.cls == OpClass::collective; }));
  int per_layer_all_reduces = 0;
  for (const Op& op : tp4)
    if (op.collective == Collective::all_reduce && op.repeat == static_cast<double>(m.num_hidden_layers)) {
      ++per_layer_all_reduces;
      CHECK(op.group == 4);
      CHECK(op.comm_bytes == 512.0 * m.hidden_size * 2);  // the layer output, bf16
    }
  CHECK(per_layer_all_reduces == 2);
  REQUIRE(find(tp4, "logits_all_gather"));
  CHECK(find(tp4, "qkv_proj")->flops == Approx(find(tp1, "qkv_proj")->flops / 4));
  CHECK(find(tp4, "down_proj")->flops == Approx(find(tp1, "down_proj")->flops / 4));
}

TEST_CASE("step ops: the LM head runs only for positions that produce a token", "[models][ops]") {
  const auto m = test::catalog_model("llama-3-8b");
  models::BatchShape mid_prompt;
  mid_prompt.add_prefill(512, 0, false);
  CHECK(find(ops_for(m, mid_prompt, 1), "lm_head") == nullptr);
  models::BatchShape mixed;
  mixed.add_prefill(512, 512, true);
  mixed.add_decode(100);
  mixed.add_decode(200);
  const auto ops = ops_for(m, mixed, 1);  // find() points into it: it must outlive `head`
  const Op* head = find(ops, "lm_head");
  REQUIRE(head);
  CHECK(head->flops == 2.0 * 3 * m.vocab_size * m.hidden_size);
}

TEST_CASE("step ops: attention reads exactly the cached KV", "[models][ops]") {
  const auto m = test::catalog_model("llama-3-8b");
  SECTION("decode: context KV read plus the new token's KV written") {
    models::BatchShape b;
    b.add_decode(1000);
    b.add_decode(3000);
    const auto ops = ops_for(m, b, 1);
    const Op* attn = find(ops, "attention_decode");
    REQUIRE(attn);
    CHECK(attn->kv.bytes * attn->repeat == Approx(m.kv_bytes_per_token(1) * (4000 + 2)));
    CHECK(attn->flops == Approx(4.0 * 128 * 32 * 4000));
  }
  SECTION("prefill chunk after cached context: causal pairs") {
    models::BatchShape b;
    b.add_prefill(100, 50, true);
    const auto ops = ops_for(m, b, 1);
    const Op* attn = find(ops, "attention_prefill");
    REQUIRE(attn);
    CHECK(attn->flops == Approx(4.0 * 128 * 32 * (100.0 * 50 + 100.0 * 101 / 2)));
    CHECK(attn->kv.bytes * attn->repeat == Approx(m.kv_bytes_per_token(1) * (150 + 100)));
  }
}
