// model.precision: separate dtypes for weights, GEMM math, activations, KV cache and collectives.
#include <catch2/catch.hpp>

#include <algorithm>

#include "catalog_entries.hpp"
#include "hw/cost_model.hpp"
#include "models/graph_builder.hpp"
#include "models/step_ops.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {
/// Model `yaml` (the value of `model:`) parsed as a scenario parses it; unknown keys are errors.
models::ModelSpec model(const std::string& yaml) {
  auto doc = config::Document::load_string("model: " + yaml + "\n", "p.yaml");
  auto layered = catalog::with_preset(doc.root(), "model", "models/catalog");
  auto m = models::parse_model(layered.node);
  layered.preset.check_unknown_keys();
  doc.check_unknown_keys();
  return m;
}
/// The resolved `model` block after parsing `yaml`.
YAML::Node resolved(const std::string& yaml) {
  auto doc = config::Document::load_string("model: " + yaml + "\n", "p.yaml");
  auto layered = catalog::with_preset(doc.root(), "model", "models/catalog");
  models::parse_model(layered.node);
  return YAML::Clone(doc.resolved()["model"]);
}
std::vector<Op> ops_for(const models::ModelSpec& m, const models::BatchShape& b, int tp) {
  std::vector<Op> ops;
  models::step_ops(m, b, tp, ops);
  return ops;
}
const Op& find(const std::vector<Op>& ops, std::string_view name) {
  auto it = std::find_if(ops.begin(), ops.end(), [&](const Op& o) { return o.name == name; });
  if (it == ops.end()) FAIL("no op " << name);
  return *it;
}
models::BatchShape mixed_batch() {
  models::BatchShape b;
  b.add_prefill(512, 256, true);
  b.add_decode(1000);
  b.add_decode(3000);
  return b;
}
constexpr const char* kLinear[] = {"qkv_proj", "o_proj", "gate_up_proj", "down_proj"};
}  // namespace

TEST_CASE("precision: defaults follow torch_dtype", "[models][precision]") {
  SECTION("16-bit checkpoints run in their dtype throughout") {
    CHECK(test::catalog_model("llama-3-8b").precision == models::Precision::all(DType::bf16));
    CHECK(test::catalog_model("llama-2-7b").precision == models::Precision::all(DType::fp16));
    CHECK(model("{preset: llama-3-8b, torch_dtype: float32}").precision == models::Precision::all(DType::fp32));
  }
  SECTION("an FP8 checkpoint runs as vLLM runs one: FP8 weights and GEMMs, the rest in bf16") {
    const auto p = model("{preset: llama-3-8b, torch_dtype: fp8}").precision;
    CHECK(p == models::Precision{DType::fp8, DType::fp8, DType::bf16, DType::bf16, DType::bf16});
    CHECK_FALSE(p.uniform());
    CHECK(p.describe() == "weights fp8, gemm fp8, activations bf16, kv bf16, comm bf16");
  }
  SECTION("an explicit all-bf16 precision is the default exactly") {
    const auto a = test::catalog_model("llama-3-8b");
    const auto b =
        model("{preset: llama-3-8b, precision: {weights: bf16, gemm: bf16, activations: bf16, kv: bf16, comm: bf16}}");
    CHECK(a.weight_bytes_per_device(1) == b.weight_bytes_per_device(1));
    CHECK(a.kv_bytes_per_token(2) == b.kv_bytes_per_token(2));
    const auto oa = ops_for(a, mixed_batch(), 2), ob = ops_for(b, mixed_batch(), 2);
    REQUIRE(oa.size() == ob.size());
    for (std::size_t i = 0; i < oa.size(); ++i) {
      INFO(oa[i].name);
      CHECK(oa[i].dtype == ob[i].dtype);
      CHECK(oa[i].flops == ob[i].flops);
      CHECK(oa[i].bytes() == ob[i].bytes());
      CHECK(oa[i].comm_bytes == ob[i].comm_bytes);
    }
  }
}

TEST_CASE("precision: the short form", "[models][precision]") {
  // An 8-bit dtype quantizes the linear layers (vLLM --quantization fp8); a 16/32-bit one is the
  // whole model's dtype (vLLM --dtype).
  CHECK(model("{preset: llama-3-8b, precision: fp8}").precision ==
        models::Precision{DType::fp8, DType::fp8, DType::bf16, DType::bf16, DType::bf16});
  CHECK(model("{preset: llama-2-7b, precision: int8}").precision ==
        models::Precision{DType::int8, DType::int8, DType::fp16, DType::fp16, DType::fp16});
  CHECK(model("{preset: llama-3-8b, precision: fp16}").precision == models::Precision::all(DType::fp16));
  CHECK(model("{preset: llama-3-8b, precision: float32}").precision == models::Precision::all(DType::fp32));
  SECTION("the map form changes only the kinds it names") {
    CHECK(model("{preset: llama-3-8b, precision: {kv: fp8}}").precision ==
          models::Precision{DType::bf16, DType::bf16, DType::bf16, DType::fp8, DType::bf16});
    CHECK(model("{preset: llama-3-8b, torch_dtype: fp8, precision: {kv: fp8}}").precision ==
          models::Precision{DType::fp8, DType::fp8, DType::bf16, DType::fp8, DType::bf16});
    CHECK(model("{preset: llama-3-8b, precision: {gemm: tf32}}").precision.gemm == DType::tf32);
  }
  SECTION("a short form as the base of a map (what --set model.precision.kv=fp8 makes of precision: fp8)") {
    CHECK(model("{preset: llama-3-8b, precision: {preset: fp8, kv: fp8}}").precision ==
          models::Precision{DType::fp8, DType::fp8, DType::bf16, DType::fp8, DType::bf16});
    CHECK(model("{preset: llama-3-8b, precision: {preset: fp16, gemm: fp8}}").precision ==
          models::Precision{DType::fp16, DType::fp8, DType::fp16, DType::fp16, DType::fp16});
  }
}

TEST_CASE("precision: resolved.yaml shows the five dtypes when given or mixed, and nothing otherwise",
          "[models][precision]") {
  CHECK_FALSE(resolved("llama-3-8b")["precision"]);
  CHECK_FALSE(resolved("{preset: llama-3-8b, num_hidden_layers: 4}")["precision"]);
  const YAML::Node short_form = resolved("{preset: llama-3-8b, precision: fp8}")["precision"];
  REQUIRE(short_form.IsMap());
  CHECK(short_form["weights"].as<std::string>() == "fp8");
  CHECK(short_form["gemm"].as<std::string>() == "fp8");
  CHECK(short_form["activations"].as<std::string>() == "bf16");
  CHECK(short_form["kv"].as<std::string>() == "bf16");
  CHECK(short_form["comm"].as<std::string>() == "bf16");
  const YAML::Node fp8_checkpoint = resolved("{preset: llama-3-8b, torch_dtype: fp8}")["precision"];
  REQUIRE(fp8_checkpoint.IsMap());
  CHECK(fp8_checkpoint["weights"].as<std::string>() == "fp8");
  // The resolved form parses back to the same precision.
  YAML::Emitter e;
  e << YAML::Flow << resolved("{preset: llama-3-8b, precision: {kv: fp8, comm: fp32}}");
  CHECK(model(e.c_str()).precision ==
        models::Precision{DType::bf16, DType::bf16, DType::bf16, DType::fp8, DType::fp32});
}

TEST_CASE("precision: FP8 weights halve the linear layers' bytes and GEMM weight reads, not the KV cache",
          "[models][precision]") {
  const auto bf16 = test::catalog_model("llama-3-8b");
  const auto fp8 = model("{preset: llama-3-8b, precision: {weights: fp8}}");
  CHECK(fp8.precision.gemm == DType::bf16);  // weight-only (W8A16, as FP8 Marlin runs it)
  const double L = static_cast<double>(bf16.num_hidden_layers);
  const double linear = static_cast<double>(bf16.layer_linear_parameters());
  for (int tp : {1, 2, 4}) {
    INFO("tp " << tp);
    // The linear matrices drop from 2 to 1 byte per weight; embedding, LM head and norms stay 16-bit.
    CHECK(fp8.weight_bytes_per_device(tp) == Approx(bf16.weight_bytes_per_device(tp) - L * linear / tp).epsilon(1e-12));
    CHECK(fp8.kv_bytes_per_token(tp) == bf16.kv_bytes_per_token(tp));
    const auto ob = ops_for(bf16, mixed_batch(), tp), of = ops_for(fp8, mixed_batch(), tp);
    for (const char* name : kLinear) {
      INFO(name);
      CHECK(find(of, name).weights.bytes == find(ob, name).weights.bytes / 2);
      CHECK(find(of, name).activations.bytes == find(ob, name).activations.bytes);
      CHECK(find(of, name).dtype == DType::bf16);
    }
    CHECK(find(of, "lm_head").weights.bytes == find(ob, "lm_head").weights.bytes);  // lm_head is not quantized
    CHECK(find(of, "attention_decode").kv.bytes == find(ob, "attention_decode").kv.bytes);
    CHECK(find(of, "attention_prefill").kv.bytes == find(ob, "attention_prefill").kv.bytes);
  }
  // Llama-3-8B: 6.98 B of its 8.03 B parameters are in the linear layers, so the footprint falls
  // from 16.06 GB to 9.08 GB (the embedding and head, 1.05 B parameters, stay bf16).
  CHECK(fp8.weight_bytes_per_device(1) / 1e9 == Approx(9.08).margin(0.01));
  CHECK(fp8.weight_bytes() == Approx(fp8.weight_bytes_per_device(1)).epsilon(1e-12));
  SECTION("qwen2's q/k/v biases stay 16-bit") {
    const auto q16 = test::catalog_model("qwen2.5-7b");
    const auto q8 = model("{preset: qwen2.5-7b, precision: fp8}");
    const double k = static_cast<double>(q16.hidden_size);
    const double n = static_cast<double>((q16.num_attention_heads + 2 * q16.num_key_value_heads) * q16.head_dim);
    CHECK(find(ops_for(q8, mixed_batch(), 1), "qkv_proj").weights.bytes == k * n + 2 * n);
    CHECK(find(ops_for(q16, mixed_batch(), 1), "qkv_proj").weights.bytes == 2 * (k * n + n));
  }
}

TEST_CASE("precision: an FP8 KV cache halves KV bytes per token and the KV bytes attention moves",
          "[models][precision]") {
  const auto bf16 = test::catalog_model("llama-3-8b");
  const auto kv8 = model("{preset: llama-3-8b, precision: {kv: fp8}}");
  CHECK(kv8.kv_bytes_per_token(1) == 65536.0);  // 2 x 32 layers x 8 KV heads x 128 dims x 1 byte
  CHECK(kv8.kv_bytes_per_token(2) == bf16.kv_bytes_per_token(2) / 2);
  CHECK(kv8.weight_bytes_per_device(1) == bf16.weight_bytes_per_device(1));
  const auto ob = ops_for(bf16, mixed_batch(), 1), ok = ops_for(kv8, mixed_batch(), 1);
  for (const char* name : {"attention_prefill", "attention_decode"}) {
    INFO(name);
    CHECK(find(ok, name).kv.bytes == find(ob, name).kv.bytes / 2);
    CHECK(find(ok, name).activations.bytes == find(ob, name).activations.bytes);  // Q and O stay bf16
    CHECK(find(ok, name).flops == find(ob, name).flops);
    CHECK(find(ok, name).dtype == DType::bf16);  // dequantized, computed in the activation dtype
  }
  const Op& attn = find(ok, "attention_decode");
  CHECK(attn.kv.bytes * attn.repeat == Approx(kv8.kv_bytes_per_token(1) * (4000 + 2)));
}

TEST_CASE("precision: a KV cache quantized in groups (kv_quant) stores bits plus group scales and pays to dequantize",
          "[models][precision]") {
  const auto bf16 = test::catalog_model("llama-3-8b");
  // KIVI-style INT4: 4 bits per element plus a 16-bit scale and zero point per group of 32.
  const auto q4 = model("{preset: llama-3-8b, precision: {kv_quant: {bits: 4, group_size: 32}}}");
  CHECK(q4.precision.kv_bytes_per_element() == 0.5 + 4.0 / 32);
  CHECK(q4.kv_bytes_per_token(1) == 2 * 32 * 8 * 128 * 0.625);  // 3.2x less than BF16
  CHECK(q4.kv_bytes_per_token(1) == bf16.kv_bytes_per_token(1) * 0.625 / 2);
  CHECK(q4.precision.describe() == "weights bf16, gemm bf16, activations bf16, kv bf16, comm bf16, kv quantized to 4 bits "
                                   "in groups of 32");
  const auto ob = ops_for(bf16, mixed_batch(), 1), oq = ops_for(q4, mixed_batch(), 1);
  const Op& decode_b = find(ob, "attention_decode");
  const Op& decode_q = find(oq, "attention_decode");
  CHECK(decode_q.kv.bytes == Approx(decode_b.kv.bytes * 0.625 / 2));
  CHECK(decode_q.activations.bytes == decode_b.activations.bytes);
  // 2 FLOPs to dequantize each of the 2 x 8 KV heads x 128 elements of every context token read.
  CHECK(decode_q.flops - decode_b.flops == Approx(2.0 * 2 * 8 * 128 * 4000));
  const Op& prefill_b = find(ob, "attention_prefill");
  const Op& prefill_q = find(oq, "attention_prefill");
  CHECK(prefill_q.flops > prefill_b.flops);
  CHECK(prefill_q.kv.bytes < prefill_b.kv.bytes);
  // A free dequantization costs nothing extra.
  const auto q4free = model("{preset: llama-3-8b, precision: {kv_quant: {bits: 4, group_size: 32, dequant_flops: 0}}}");
  CHECK(find(ops_for(q4free, mixed_batch(), 1), "attention_decode").flops == decode_b.flops);
  // The resolved configuration spells the quantization out.
  const auto r = resolved("{preset: llama-3-8b, precision: {kv_quant: {bits: 2, group_size: 64}}}");
  CHECK(r["precision"]["kv_quant"]["bits"].as<int>() == 2);
  CHECK(r["precision"]["kv_quant"]["group_size"].as<int>() == 64);
  CHECK(r["precision"]["kv_quant"]["group_bytes"].as<double>() == 4);
  REQUIRE_THROWS_WITH(model("{preset: llama-3-8b, precision: {kv_quant: {bits: 0}}}"), Contains("model.precision.kv_quant.bits = 0"));
  REQUIRE_THROWS_WITH(model("{preset: llama-3-8b, precision: {kv_quant: {bits: 4, group_size: 0}}}"),
                      Contains("model.precision.kv_quant.group_size = 0"));
  REQUIRE_THROWS_WITH(model("{preset: llama-3-8b, precision: {kv_quant: {bits: 4, group: 8}}}"),
                      Contains("model.precision.kv_quant.group: unknown key 'group'"));
}

TEST_CASE("precision: the comm dtype sets collective payloads", "[models][precision]") {
  const auto bf16 = test::catalog_model("llama-3-70b");
  const auto fp32 = model("{preset: llama-3-70b, precision: {comm: fp32}}");
  const auto fp8 = model("{preset: llama-3-70b, precision: {comm: fp8}}");
  const auto ob = ops_for(bf16, mixed_batch(), 4);
  const auto o32 = ops_for(fp32, mixed_batch(), 4);
  const auto o8 = ops_for(fp8, mixed_batch(), 4);
  int collectives = 0;
  for (std::size_t i = 0; i < ob.size(); ++i) {
    if (ob[i].cls != OpClass::collective) {
      CHECK(o8[i].bytes() == ob[i].bytes());  // nothing else moves
      continue;
    }
    INFO(ob[i].name);
    ++collectives;
    CHECK(o32[i].comm_bytes == 2 * ob[i].comm_bytes);
    CHECK(o8[i].comm_bytes == ob[i].comm_bytes / 2);
    CHECK(o8[i].dtype == DType::fp8);
  }
  CHECK(collectives == 3);  // two all-reduces per layer and the logits all-gather
  CHECK(find(ob, "attn_all_reduce").comm_bytes == (512.0 + 2) * bf16.hidden_size * 2);
}

TEST_CASE("precision: the GEMM dtype picks the peak and its ceiling, a compute-bound FP8 GEMM takes 0.5 / 0.883 of the time on H100",
          "[models][precision]") {
  const hw::Device h100 = test::catalog_device("h100-sxm5-80gb");
  const hw::CostModel cost(h100);
  const auto bf16 = test::catalog_model("llama-3-8b");
  const auto fp8 = model("{preset: llama-3-8b, precision: {gemm: fp8, weights: fp8}}");
  models::BatchShape prefill;
  prefill.add_prefill(8192, 0, true);
  const auto ob = ops_for(bf16, prefill, 1), of = ops_for(fp8, prefill, 1);
  for (const char* name : kLinear) {
    INFO(name);
    const Op& b = find(ob, name);
    const Op& f = find(of, name);
    CHECK(f.dtype == DType::fp8);
    CHECK(f.flops == b.flops);
    CHECK(cost.breakdown(b).limiter == hw::Limiter::compute);
    // Same FLOPs at twice the peak (1978.9 vs 989.4 TFLOPS) and the calibrated (BF16) gemm
    // efficiency times the H100's FP8 ceiling (0.883: 70.9% of the FP8 peak against 80.3% of
    // BF16's): the compute term takes 0.5 / 0.883 exactly; the time that, up to the memory term's
    // share of the fitted blend (activations stay bf16).
    const double peaks = h100.peak(DType::bf16) / h100.peak(DType::fp8) / 0.883;
    CHECK(cost.breakdown(f).compute / cost.breakdown(b).compute == Approx(peaks).epsilon(1e-9));
    CHECK(cost.time(f) / cost.time(b) >= peaks);
    CHECK(cost.time(f) / cost.time(b) < 0.62);
    CHECK(cost.roofline_bound(f) / cost.roofline_bound(b) == Approx(peaks * 0.883).epsilon(1e-9));
  }
  // The LM head is not quantized: bf16 math and time.
  CHECK(find(of, "lm_head").dtype == DType::bf16);
  CHECK(cost.time(find(of, "lm_head")) == cost.time(find(ob, "lm_head")));
  // Elementwise ops and attention run in the activation dtype.
  for (const Op& op : of)
    if (op.cls != OpClass::gemm && op.cls != OpClass::collective) CHECK(op.dtype == DType::bf16);
}

TEST_CASE("precision: training with FP8 GEMMs on BF16 weights (Transformer Engine)", "[models][precision][training]") {
  const auto bf16 = test::catalog_model("llama-3-8b");
  const auto te = model("{preset: llama-3-8b, precision: {gemm: fp8}}");
  const auto& builder = models::builder_for(bf16);
  models::TrainingShape shape;
  shape.micro_batch = 1;
  shape.seq_len = 4096;
  ParallelPlan plan;
  plan.tp = 2;
  plan.dp = 4;
  plan.zero = 1;
  std::vector<Op> fb, ft, bb, bt;
  builder.training_forward(bf16, shape, plan, fb);
  builder.training_forward(te, shape, plan, ft);
  builder.training_backward(bf16, shape, plan, bb);
  builder.training_backward(te, shape, plan, bt);
  REQUIRE(fb.size() == ft.size());
  REQUIRE(bb.size() == bt.size());
  for (const char* name : kLinear) {
    INFO(name);
    CHECK(find(ft, name).dtype == DType::fp8);
    CHECK(find(bt, std::string(name) + "_dgrad").dtype == DType::fp8);
    CHECK(find(bt, std::string(name) + "_wgrad").dtype == DType::fp8);
  }
  CHECK(find(ft, "lm_head").dtype == DType::bf16);
  // Only the math changes: bytes, FLOPs and payloads are those of bf16 training.
  for (std::size_t i = 0; i < bb.size(); ++i) {
    INFO(bb[i].name);
    CHECK(bt[i].flops == bb[i].flops);
    CHECK(bt[i].bytes() == bb[i].bytes());
    CHECK(bt[i].comm_bytes == bb[i].comm_bytes);
  }
  std::vector<Op> ab, at, sb, st;
  builder.optimizer_step(bf16, shape, plan, ab);
  builder.optimizer_step(te, shape, plan, at);
  REQUIRE(at.size() == 1);
  CHECK(at[0].dtype == DType::fp32);        // Adam states and master weights in fp32
  CHECK(at[0].bytes() == ab[0].bytes());    // and the bf16 copy it writes
  builder.gradient_sync(te, shape, plan, st);
  builder.gradient_sync(bf16, shape, plan, sb);
  REQUIRE(st.size() == sb.size());
  for (std::size_t i = 0; i < st.size(); ++i) CHECK(st[i].comm_bytes == sb[i].comm_bytes);
  SECTION("FP8 weights: the copy Adam writes and ZeRO gathers shrinks; gradients do not") {
    const auto w8 = model("{preset: llama-3-8b, precision: {weights: fp8, gemm: fp8}}");
    std::vector<Op> a8, s8, b8;
    builder.optimizer_step(w8, shape, plan, a8);
    builder.gradient_sync(w8, shape, plan, s8);
    builder.training_backward(w8, shape, plan, b8);
    const double params = static_cast<double>(bf16.parameters()) / 2 / 4;  // tp 2, ZeRO-1 over dp 4
    CHECK(a8[0].bytes() == Approx(28 * params + w8.weight_bytes() / 2 / 4));
    CHECK(find(s8, "dp_grad_reduce_scatter").comm_bytes == find(sb, "dp_grad_reduce_scatter").comm_bytes);
    CHECK(find(s8, "dp_param_all_gather").comm_bytes < 0.6 * find(sb, "dp_param_all_gather").comm_bytes);
    // The weight gradient accumulates one gradient element per weight, whatever the weights' dtype.
    CHECK(find(b8, "down_proj_wgrad").activations.bytes == find(bb, "down_proj_wgrad").activations.bytes);
    CHECK(find(b8, "down_proj_dgrad").weights.bytes == find(bb, "down_proj_dgrad").weights.bytes / 2);
  }
}

TEST_CASE("precision: bad values name the key path, the value and the valid ones", "[models][precision]") {
  REQUIRE_THROWS_WITH(model("{preset: llama-3-8b, precision: {kv: fp4}}"),
                      Contains("p.yaml:1: model.precision.kv = fp4: expected one of bf16, fp16, fp32, fp8, int8"));
  REQUIRE_THROWS_WITH(model("{preset: llama-3-8b, precision: {weights: tf32}}"),
                      Contains("model.precision.weights = tf32: expected one of bf16, fp16, fp32, fp8, int8"));
  REQUIRE_THROWS_WITH(model("{preset: llama-3-8b, precision: {gemm: e4m3}}"),
                      Contains("model.precision.gemm = e4m3: expected one of bf16, fp16, fp32, tf32, fp8, int8"));
  REQUIRE_THROWS_WITH(model("{preset: llama-3-8b, precision: {kv: {a: 1}}}"),
                      Contains("model.precision.kv = <map>: expected a string"));
  REQUIRE_THROWS_WITH(model("{preset: llama-3-8b, precision: fp4}"),
                      Contains("model.precision = fp4: expected one of bf16, fp16, fp32, fp8, int8 (or a map with keys "
                               "preset, weights, gemm, activations, kv, comm, kv_quant, weight_quant)"));
  REQUIRE_THROWS_WITH(model("{preset: llama-3-8b, precision: [fp8]}"),
                      Contains("model.precision = <list>: expected a dtype (bf16, fp16, fp32, fp8, int8) (or a map"));
  REQUIRE_THROWS_WITH(model("{preset: llama-3-8b, precision: {preset: fp6, kv: fp8}}"),
                      Contains("model.precision.preset = fp6: expected one of bf16, fp16, fp32, fp8, int8"));
  REQUIRE_THROWS_WITH(model("{preset: llama-3-8b, precision: {weight: fp8}}"),
                      Contains("model.precision.weight") && Contains("did you mean 'weights'"));
  REQUIRE_THROWS_WITH(model("{preset: llama-3-8b, torch_dtype: tf32}"),
                      Contains("model.torch_dtype = tf32: expected bfloat16, float16, float32, fp8 or int8"));
}

TEST_CASE("precision: 4-bit weights in groups (weight_quant) store bits plus group scales, the LM head too when asked",
          "[models][precision]") {
  const auto fp16 = model("{preset: llama-3-8b, precision: fp16}");
  const auto w4 = model("{preset: llama-3-8b, precision: {preset: fp16, weight_quant: {bits: 4, group_size: 128}}}");
  const auto w4_head = model("{preset: llama-3-8b, precision: {preset: fp16, weight_quant: {bits: 4, lm_head: true}}}");
  const double per = 0.5 + 4.0 / 128;  // 4 bits and a 16-bit scale and zero point per 128 weights
  CHECK(w4.precision.weight_bytes_per_element() == per);
  const double linear = static_cast<double>(fp16.layer_linear_parameters()) * fp16.num_hidden_layers;
  // Only the decoder's linear layers shrink (GPTQ/AWQ as vLLM runs them); with lm_head the
  // untied 128,256 x 4,096 output matrix too (MLC's q4f16_1).
  CHECK(fp16.weight_bytes() - w4.weight_bytes() == Approx(linear * (2 - per)));
  CHECK(w4.weight_bytes() - w4_head.weight_bytes() == Approx(128256.0 * 4096 * (2 - per)));
  CHECK(w4_head.weight_bytes_per_device(1) == Approx(w4_head.weight_bytes()).epsilon(1e-9));
  models::BatchShape decode;
  decode.add_decode(100);
  const auto of = ops_for(fp16, decode, 1), oq = ops_for(w4_head, decode, 1);
  CHECK(find(oq, "down_proj").weights.bytes == Approx(find(of, "down_proj").weights.bytes * per / 2));
  CHECK(find(oq, "lm_head").weights.bytes == Approx(find(of, "lm_head").weights.bytes * per / 2));
  CHECK(find(oq, "down_proj").dtype == DType::fp16);  // dequantized inside the GEMM: the math stays 16-bit
  CHECK(w4_head.precision.describe() == "weights fp16, gemm fp16, activations fp16, kv fp16, comm fp16, weights "
                                        "quantized to 4 bits in groups of 128 (lm_head too)");
  CHECK(resolved("{preset: llama-3-8b, precision: {weight_quant: {bits: 4}}}")["precision"]["weight_quant"]["group_size"]
            .as<int>() == 128);
  CHECK_THROWS_WITH(model("{preset: llama-3-8b, precision: {weight_quant: {bits: 16}}}"),
                    Contains("precision.weight_quant.bits") && Contains("16"));
}

TEST_CASE("precision: the LM head may be quantized its own way (llama.cpp's Q6_K head in Q4_K_M)", "[models][precision]") {
  const std::string own = "{preset: llama-3-8b, precision: {preset: fp16, weight_quant: {bits: 4, group_size: 256, group_bytes: 16, "
                          "lm_head: {bits: 6, group_size: 256, group_bytes: 18}}}}";
  const auto q6 = model(own);
  const auto same = model("{preset: llama-3-8b, precision: {preset: fp16, weight_quant: {bits: 4, group_size: 256, group_bytes: 16, "
                          "lm_head: true}}}");
  // Q4_K: 144 bytes per 256 weights; Q6_K: 210.
  CHECK(q6.precision.weight_bytes_per_element() == 144.0 / 256);
  CHECK(q6.lm_head_bytes_per_element() == 210.0 / 256);
  CHECK(same.lm_head_bytes_per_element() == 144.0 / 256);
  CHECK(q6.weight_bytes() - same.weight_bytes() == Approx(128256.0 * 4096 * (210.0 - 144.0) / 256));
  models::BatchShape decode;
  decode.add_decode(100);
  CHECK(find(ops_for(q6, decode, 1), "lm_head").weights.bytes == Approx(128256.0 * 4096 * 210.0 / 256));
  CHECK(q6.precision.describe().ends_with("(lm_head to 6 bits in groups of 256)"));
  // The resolved form keeps the head's grouping.
  const auto r = resolved(own);
  CHECK(r["precision"]["weight_quant"]["lm_head"]["group_bytes"].as<double>() == 18);
  CHECK_THROWS_WITH(model("{preset: llama-3-8b, precision: {weight_quant: {bits: 4, lm_head: {bits: 12}}}}"),
                    Contains("precision.weight_quant.lm_head.bits") && Contains("12"));
}
