// GPT-style dense models (model_type gpt2: learned positions, LayerNorm, GELU MLP h -> 4h -> h,
// biases on every linear layer) against published parameter totals and Megatron-LM's FLOP formulas,
// and every model catalog entry loaded as a scenario loads it.
#include <catch2/catch.hpp>

#include <algorithm>

#include "catalog_entries.hpp"
#include "models/graph_builder.hpp"

using namespace hetsim;

namespace {
models::ModelSpec model(const std::string& yaml) {
  auto doc = config::Document::load_string("model: " + yaml + "\n", "m.yaml");
  auto layered = catalog::with_preset(doc.root(), "model", "models/catalog");
  auto m = models::parse_model(layered.node);
  layered.preset.check_unknown_keys();
  doc.check_unknown_keys();
  return m;
}
double sum(const std::vector<Op>& ops, OpClass cls) {
  double total = 0;
  for (const Op& op : ops)
    if (op.cls == cls) total += op.flops * op.repeat;
  return total;
}
bool has(const std::vector<Op>& ops, std::string_view name) {
  return std::any_of(ops.begin(), ops.end(), [&](const Op& op) { return op.name == name; });
}
// openai-community/gpt2 config.json, in GPT2Config's own field names.
const char* kGpt2Small =
    "{preset: gpt3-175b, name: gpt2, n_embd: 768, n_layer: 12, n_head: 12, n_positions: 1024, n_inner: null, "
    "vocab_size: 50257, activation_function: gelu_new, layer_norm_epsilon: 1.0e-05}";
}  // namespace

TEST_CASE("models: GPT-2 given with its config.json fields matches the published totals", "[models][gpt]") {
  const auto small = model(kGpt2Small);
  CHECK(small.model_type == "gpt2");
  CHECK_FALSE(small.gated_mlp);
  CHECK(small.learned_positions);
  CHECK(small.norm_bias);
  CHECK(small.mlp_bias);
  CHECK(small.tie_word_embeddings);
  CHECK(small.intermediate_size == 4 * 768);  // n_inner null: 4 * n_embd
  CHECK(small.head_dim == 64);
  // GPT2LMHeadModel's parameter count (embeddings tied; the causal-mask buffers are not parameters).
  CHECK(small.parameters() == 124'439'808LL);
  CHECK(small.layer_parameters() == 7'087'872LL);  // one GPT2Block
  // GPT-2 XL (openai-community/gpt2-xl config.json: n_embd 1600, n_layer 48, n_head 25): "1.5B".
  CHECK(model("{preset: gpt3-175b, name: gpt2-xl, n_embd: 1600, n_layer: 48, n_head: 25, n_positions: 1024, "
              "n_inner: null, vocab_size: 50257}")
            .parameters() == 1'557'611'200LL);
  SECTION("the Llama-style names of the same fields give the same model") {
    const auto same = model("{preset: gpt3-175b, name: gpt2, hidden_size: 768, num_hidden_layers: 12, "
                            "num_attention_heads: 12, max_position_embeddings: 1024, intermediate_size: 3072}");
    CHECK(same.parameters() == small.parameters());
    CHECK(same.weight_bytes_per_device(4) == small.weight_bytes_per_device(4));
  }
}

TEST_CASE("models: GPT-3 175B and Llama 3.1 405B match their published totals", "[models][gpt]") {
  const auto gpt3 = test::catalog_model("gpt3-175b");
  const std::int64_t l = 96, h = 12288, s = 2048;
  // 12 l h^2 weights, 13 l h biases and LayerNorm parameters, token and position embeddings (tied
  // head), final LayerNorm.
  CHECK(gpt3.parameters() == 12 * l * h * h + 13 * l * h + (50257 + s) * h + 2 * h);
  CHECK(gpt3.parameters() == 174'604'259'328LL);
  CHECK(static_cast<double>(gpt3.parameters()) == Approx(174.6e9).epsilon(5e-4));  // Narayanan et al. SC'21, Table 2
  CHECK(static_cast<double>(gpt3.parameters()) == Approx(175.0e9).epsilon(3e-3));  // Brown et al. 2020, Table 2.1
  CHECK(gpt3.layer_linear_parameters() == 12 * h * h);
  // Megatron's padded vocabulary: Narayanan et al. SC'21 Eq. (2), P = 12 l h^2 (1 + 13/(12h) + (V + s)/(12 l h)),
  // which leaves out the final LayerNorm's 2h.
  const auto megatron = model("{preset: gpt3-175b, vocab_size: 51200}");
  CHECK(megatron.parameters() == 12 * l * h * h + 13 * l * h + (51200 + s) * h + 2 * h);
  // config.json of meta-llama/Llama-3.1-405B; total from its safetensors metadata.
  CHECK(test::catalog_model("llama-3.1-405b").parameters() == 405'853'388'800LL);
  // meta-llama/Llama-3.1-8B: Llama 3 8B's architecture, 128K positions; the same published total.
  CHECK(test::catalog_model("llama-3.1-8b").parameters() == 8'030'261'248LL);
  CHECK(test::catalog_model("llama-3.1-8b").parameters() == test::catalog_model("llama-3-8b").parameters());
}

TEST_CASE("models: GPT-style weights split over tensor-parallel devices", "[models][gpt]") {
  const auto m = test::catalog_model("gpt3-175b");
  const double total = static_cast<double>(m.parameters()) * 2;  // bf16
  CHECK(m.weight_bytes_per_device(1) == Approx(total).epsilon(1e-12));
  // Replicated on every device: the LayerNorms (weight and bias), the learned position table and
  // the row-parallel layers' biases (o_proj, fc2), added once after the reduction.
  const double h = 12288, L = 96;
  const double replicated = (2 * 2 * h * L + 2 * h) + 2048 * h + 2 * h * L;
  const double split = static_cast<double>(m.parameters()) - replicated;
  CHECK(m.weight_bytes_per_device(8) == Approx(2 * (split / 8 + replicated)).epsilon(1e-12));
}

TEST_CASE("models: malformed GPT-style model YAML names the key path", "[models][gpt]") {
  SECTION("an activation the family does not have") {
    REQUIRE_THROWS_WITH(model("{preset: gpt3-175b, activation_function: relu}"),
                        Catch::Contains("model.activation_function = relu") && Catch::Contains("gelu_new"));
    REQUIRE_THROWS_WITH(model("{preset: llama-3-8b, hidden_act: gelu}"),
                        Catch::Contains("model.hidden_act = gelu") && Catch::Contains("silu"));
  }
  SECTION("both spellings of one field") {
    REQUIRE_THROWS_WITH(model("{preset: gpt3-175b, hidden_size: 768, n_embd: 768}"),
                        Catch::Contains("model.n_embd = 768") && Catch::Contains("hidden_size or n_embd"));
  }
  SECTION("GPT2Config names are not Llama fields") {
    REQUIRE_THROWS_WITH(model("{preset: llama-3-8b, n_embd: 768}"), Catch::Contains("n_embd"));
  }
  SECTION("RoPE settings are not GPT-2 fields") {
    REQUIRE_THROWS_WITH(model("{preset: gpt3-175b, rope_theta: 10000}"), Catch::Contains("rope_theta"));
  }
}

TEST_CASE("GPT-style graphs: two MLP GEMMs with GELU, no RoPE, positions added in the embedding", "[models][gpt][training]") {
  const auto m = model(kGpt2Small);
  const auto& builder = models::builder_for(m);
  models::BatchShape batch;
  batch.add_prefill(128, 0, true);
  std::vector<Op> step;
  builder.serving_step(m, batch, ParallelPlan{}, step);
  for (const char* name : {"fc1", "gelu", "fc2", "embedding"}) CHECK(has(step, name));
  for (const char* name : {"rope", "gate_up_proj", "silu_mul", "down_proj"}) CHECK_FALSE(has(step, name));
  for (const Op& op : step)
    if (op.name == "embedding") CHECK(op.flops == 128.0 * 768);  // the position add

  SECTION("forward GEMMs do 2 FLOPs per weight and 1 per bias per token") {
    models::TrainingShape shape;
    shape.micro_batch = 2;
    shape.seq_len = 1024;
    std::vector<Op> fwd, bwd;
    builder.training_forward(m, shape, ParallelPlan{}, fwd);
    builder.training_backward(m, shape, ParallelPlan{}, bwd);
    CHECK_FALSE(has(fwd, "rope"));
    const double T = 2.0 * 1024, L = 12, h = 768, V = 50257;
    // Matrices of the decoder plus the (tied) LM head; biases of q/k/v, o, fc1 (4h) and fc2.
    const double weights = L * static_cast<double>(m.layer_linear_parameters()) + V * h;
    const double biases = L * (3 * h + h + 4 * h + h);
    CHECK(sum(fwd, OpClass::gemm) == Approx(2 * weights * T + biases * T).epsilon(1e-12));
    CHECK(sum(bwd, OpClass::gemm) == Approx(2 * sum(fwd, OpClass::gemm)).epsilon(1e-12));
  }
}

TEST_CASE("GPT-style graphs: GEMM and attention FLOPs against Megatron-LM's per-iteration formulas", "[models][gpt][training]") {
  // GPT-3 175B as Megatron trains it: V = 51,200, s = 2048 (Narayanan et al. SC'21, Sec. 5.1).
  const auto m = model("{preset: gpt3-175b, vocab_size: 51200}");
  const auto& builder = models::builder_for(m);
  models::TrainingShape shape;
  shape.micro_batch = 1;
  shape.seq_len = 2048;
  const double B = 1, s = 2048, l = 96, h = 12288, V = 51200, T = B * s;
  auto flops = [&](models::TrainingShape::Recompute r) {
    shape.recompute = r;
    std::vector<Op> fwd, bwd;
    builder.training_forward(m, shape, ParallelPlan{}, fwd);
    builder.training_backward(m, shape, ParallelPlan{}, bwd);
    return sum(fwd, OpClass::gemm) + sum(bwd, OpClass::gemm) + sum(fwd, OpClass::attention_prefill) +
           sum(bwd, OpClass::attention_prefill);
  };
  // The builder differs from Megatron's count in known terms only: it counts causal attention
  // (s(s+1)/2 query-key pairs, FlashAttention's count; Megatron counts all s^2) with a backward of
  // 2.5x the forward (Megatron: 2x), and the bias adds (9h per token and layer, each GEMM pass).
  const double bias = 9 * h * l * T;
  const double causal = 2 * h * B * s * (s + 1) * l;  // forward attention FLOPs of all layers
  SECTION("no recompute: 72 B s l h^2 (1 + s/(6h) + V/(12 l h)) (Korthikanti et al. 2022, model FLOPs)") {
    const double megatron = 72 * B * s * l * h * h * (1 + s / (6 * h) + V / (12 * l * h));
    const double builder_flops = flops(models::TrainingShape::Recompute::none);
    CHECK(builder_flops == Approx(megatron - 12 * B * s * s * l * h + 3.5 * causal + 3 * bias).epsilon(1e-12));
    CHECK(builder_flops == Approx(megatron).epsilon(0.015));  // within 1.5% (-1.1%, from attention)
  }
  SECTION("full recompute: 96 B s l h^2 (1 + s/(6h) + V/(16 l h)) (Narayanan et al. SC'21, Sec. 5.1)") {
    const double megatron = 96 * B * s * l * h * h * (1 + s / (6 * h) + V / (16 * l * h));
    const double builder_flops = flops(models::TrainingShape::Recompute::full);
    // Like Megatron, the builder recomputes the transformer layers only, not the LM head.
    CHECK(builder_flops == Approx(megatron - 16 * B * s * s * l * h + 4.5 * causal + 4 * bias).epsilon(1e-12));
    CHECK(builder_flops == Approx(megatron).epsilon(0.015));  // within 1.5% (-1.1%)
  }
}

TEST_CASE("models catalog: every entry loads, with the GPT-style and 405B entries", "[models][catalog]") {
  const auto names = catalog::names("models/catalog");
  CHECK(std::count(names.begin(), names.end(), "gpt3-175b") == 1);
  CHECK(std::count(names.begin(), names.end(), "llama-3.1-405b") == 1);
  for (const auto& name : names) {
    INFO(name);
    const auto m = test::catalog_model(name);
    CHECK(m.name == name);
    CHECK(m.parameters() > 0);
    CHECK(m.tensor_parallel_problem(4).empty());  // all split over 4 devices (Qwen2.5's 28 heads not over 8)
    models::BatchShape batch;
    batch.add_prefill(16, 0, true);
    std::vector<Op> step;
    models::builder_for(m).serving_step(m, batch, ParallelPlan{}, step);
    CHECK_FALSE(step.empty());
  }
}
