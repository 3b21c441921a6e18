// The per-rank memory model of distributed training (sim/training/training_memory) against its
// sources: ZeRO (Rajbhandari et al., SC'20) Figure 1, Megatron Core's distributed-optimizer table,
// Korthikanti et al. 2022 Table 2 for GPT-3 175B; and the parameters it counts against ModelSpec.
#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "catalog_entries.hpp"
#include "sim/core/error.hpp"
#include "sim/training/training_memory.hpp"

using namespace hetsim;
using namespace hetsim::training;

namespace {
constexpr double GB = 1e9;  // the ZeRO paper's unit
constexpr double GiB = 1 << 30;
constexpr Recompute kModes[] = {Recompute::none, Recompute::selective, Recompute::full};

ParallelPlan tp_plan(int tp, bool sp, int cp = 1) {
  ParallelPlan p;
  p.tp = tp;
  p.sp = sp;
  p.cp = cp;
  return p;
}
}  // namespace

TEST_CASE("training memory: ZeRO model states per GPU match the paper's Figure 1", "[training][memory]") {
  // ZeRO Figure 1: Ψ = 7.5B, N_d = 64, K = 12 (fp16 weights and gradients, fp32 Adam states).
  const double psi = 7.5e9;
  const StateBytes paper;  // the defaults: 2, 2, 4 + 8
  REQUIRE(paper.optimizer() == 12);
  CHECK(zero_bytes(psi, 64, 0, paper).total() / GB == Approx(120.0));
  CHECK(zero_bytes(psi, 64, 1, paper).total() / GB == Approx(31.4).margin(0.05));
  CHECK(zero_bytes(psi, 64, 2, paper).total() / GB == Approx(16.6).margin(0.05));
  CHECK(zero_bytes(psi, 64, 3, paper).total() / GB == Approx(1.9).margin(0.05));
  // The exact values of the formulas behind the rounded figures.
  CHECK(zero_bytes(psi, 64, 1, paper).total() == Approx(2 * psi + 2 * psi + 12 * psi / 64));
  CHECK(zero_bytes(psi, 64, 2, paper).total() == Approx(2 * psi + 14 * psi / 64));
  CHECK(zero_bytes(psi, 64, 3, paper).total() == Approx(16 * psi / 64));

  SECTION("which state each stage shards") {
    const auto s2 = zero_bytes(psi, 64, 2, paper);
    CHECK(s2.weights == 2 * psi);
    CHECK(s2.gradients == 2 * psi / 64);
    CHECK(s2.master_weights == 4 * psi / 64);
    CHECK(s2.optimizer_moments == 8 * psi / 64);
    CHECK(s2.optimizer_states() == 12 * psi / 64);
  }
  SECTION("Megatron's distributed optimizer: bytes per parameter by param and grad dtype") {
    // Megatron Core docs, "Distributed Optimizer": bf16 params + fp32 grads 18 / 6 + 12/d;
    // fp32 params + fp32 grads (no separate master copy) 16 / 8 + 8/d. Its distributed optimizer
    // is ZeRO stage 1.
    const double d = 8;
    const StateBytes bf16_fp32{2, 4, 4, 8};
    const StateBytes fp32_fp32{4, 4, 0, 8};
    CHECK(zero_bytes(1, 8, 0, bf16_fp32).total() == 18);
    CHECK(zero_bytes(1, 8, 1, bf16_fp32).total() == Approx(6 + 12 / d));
    CHECK(zero_bytes(1, 8, 0, fp32_fp32).total() == 16);
    CHECK(zero_bytes(1, 8, 1, fp32_fp32).total() == Approx(8 + 8 / d));
  }
  SECTION("bad stage or degree") {
    REQUIRE_THROWS_WITH(zero_bytes(psi, 64, 4), Catch::Contains("zero = 4"));
    REQUIRE_THROWS_WITH(zero_bytes(psi, 0, 1), Catch::Contains("dp = 0"));
  }
}

TEST_CASE("training memory: model states never grow with the ZeRO stage or (stage >= 1) with dp",
          "[training][memory]") {
  const double psi = 1.3e9;
  for (const StateBytes& b : {StateBytes{}, StateBytes{2, 4, 4, 8}, StateBytes{4, 4, 0, 8}})
    for (int dp : {1, 2, 8, 64, 1024}) {
      for (int z = 1; z <= 3; ++z) CHECK(zero_bytes(psi, dp, z, b).total() <= zero_bytes(psi, dp, z - 1, b).total());
      for (int z = 0; z <= 3; ++z) {
        CHECK(zero_bytes(psi, 2 * dp, z, b).total() <= zero_bytes(psi, dp, z, b).total());
        if (z >= 1) CHECK(zero_bytes(psi, 2 * dp, z, b).total() < zero_bytes(psi, dp, z, b).total());
      }
      CHECK(zero_bytes(psi, 2 * dp, 0, b).total() == zero_bytes(psi, dp, 0, b).total());  // plain DP replicates
    }
}

TEST_CASE("training memory: activations per layer match Korthikanti et al. Table 2 for GPT-3 175B",
          "[training][memory]") {
  // GPT-3 175B as Korthikanti et al. 2022 train it: h = 12288, a = 96; s = 2048, b = 1, t = 8.
  const double s = 2048, b = 1, h = 12288, a = 96, t = 8;
  const LayerShape gpt = LayerShape::gpt(h, a);
  const double sbh = s * b * h;
  auto bytes = [&](const ParallelPlan& p, Recompute r) { return activation_bytes_per_layer(gpt, s, b, p, r, 2); };

  SECTION("no recompute") {
    CHECK(bytes(tp_plan(1, false), Recompute::none) == Approx(sbh * (34 + 5 * a * s / h)));
    CHECK(bytes(tp_plan(8, false), Recompute::none) == Approx(sbh * (10 + 24 / t + 5 * a * s / (h * t))));
    CHECK(bytes(tp_plan(8, true), Recompute::none) == Approx(sbh / t * (34 + 5 * a * s / h)));
  }
  SECTION("selective recompute: the attention core is not stored") {
    CHECK(bytes(tp_plan(8, false), Recompute::selective) == Approx(sbh * (10 + 24 / t)));
    CHECK(bytes(tp_plan(8, true), Recompute::selective) == Approx(34 * sbh / t));
  }
  SECTION("full recompute: only the layer's input") {
    CHECK(bytes(tp_plan(8, false), Recompute::full) == Approx(2 * sbh));
    CHECK(bytes(tp_plan(8, true), Recompute::full) == Approx(2 * sbh / t));
  }
  SECTION("headline: sequence parallelism with selective recompute cuts ~5x against tensor parallelism alone") {
    // The abstract's "reduce activation memory by 5x": 23 sbh (10 + 24/8 + 5as/(ht) = 10) against
    // 34/8 = 4.25 sbh.
    const double ratio = bytes(tp_plan(8, false), Recompute::none) / bytes(tp_plan(8, true), Recompute::selective);
    CHECK(ratio == Approx(23 / 4.25));
    CHECK(ratio > 5);
    CHECK(ratio < 6);
  }
  SECTION("context parallelism gives each rank s/cp of the tokens") {
    CHECK(bytes(tp_plan(8, true, 2), Recompute::selective) ==
          Approx(bytes(tp_plan(8, true), Recompute::selective) / 2));
    CHECK(bytes(tp_plan(8, true, 4), Recompute::full) == Approx(2 * sbh / t / 4));
    // The attention core: s/cp queries against all s keys.
    CHECK(bytes(tp_plan(8, true, 2), Recompute::none) - bytes(tp_plan(8, true, 2), Recompute::selective) ==
          Approx(5 * a * (s / 2) * s * b / t));
  }
  SECTION("16-bit activations double at 32 bits, the 1-byte dropout masks do not") {
    const double fp32 = activation_bytes_per_layer(gpt, s, b, tp_plan(8, true), Recompute::selective, 4);
    CHECK(fp32 == Approx(2 * 34 * sbh / t - 2 * sbh / t));  // 2 masks of sbh/t at 1 byte stay 1 byte
  }
  SECTION("bad inputs") {
    REQUIRE_THROWS_WITH(bytes(tp_plan(0, false), Recompute::none), Catch::Contains("tp = 0"));
    REQUIRE_THROWS_WITH(activation_bytes_per_layer(gpt, 0, b, tp_plan(8, true), Recompute::none),
                        Catch::Contains("seq_len = 0"));
  }
}

TEST_CASE("training memory: GQA, SwiGLU and fused attention change only the tensors they narrow, add or drop",
          "[training][memory]") {
  const auto m = test::catalog_model("llama-3-8b");  // h 4096, 32 heads of 128, 8 KV heads, f 14336
  const LayerShape llama = LayerShape::of(m);
  REQUIRE(llama.gated_mlp);
  REQUIRE_FALSE(llama.dropout);
  const double s = 4096, b = 2, ab = 2, tokens = s * b;
  const double h = 4096, kv = 8 * 128.0, f = 14336, a = 32;
  auto bytes = [&](const LayerShape& l, const ParallelPlan& p, Recompute r) {
    return activation_bytes_per_layer(l, s, b, p, r, ab);
  };

  SECTION("worked numbers: the two norms' inputs, the QKV and MLP inputs, Q, K, V, O's input, gate, up, product") {
    CHECK(bytes(llama, tp_plan(1, false), Recompute::selective) ==
          Approx(tokens * ab * (4 * h + 2 * h + 2 * kv + 3 * f)));
    CHECK(bytes(llama, tp_plan(1, false), Recompute::none) ==
          Approx(tokens * ab * (4 * h + 2 * h + 2 * kv + 3 * f + a * s)));  // softmax output, no dropout
    CHECK(bytes(llama, tp_plan(4, true), Recompute::selective) ==
          Approx(tokens * ab * (4 * h + 2 * h + 2 * kv + 3 * f) / 4));
    // t = 16 exceeds the 8 KV heads: each rank keeps one KV head, not half of one.
    CHECK(bytes(llama, tp_plan(16, true), Recompute::selective) ==
          Approx(tokens * ab * ((4 * h + 2 * h + 3 * f) / 16 + 2 * 128)));
  }
  SECTION("GQA narrows K and V only") {
    LayerShape mha = llama;
    mha.kv_heads = mha.heads;
    for (const auto& p : {tp_plan(1, false), tp_plan(4, false), tp_plan(8, true)})
      CHECK(bytes(mha, p, Recompute::none) - bytes(llama, p, Recompute::none) ==
            Approx(tokens * 2 * (h - kv) / p.tp * ab));
  }
  SECTION("a gated MLP stores one more f-wide tensor than GeLU's two") {
    LayerShape gelu = llama;
    gelu.gated_mlp = false;
    CHECK(bytes(llama, tp_plan(2, true), Recompute::selective) - bytes(gelu, tp_plan(2, true), Recompute::selective) ==
          Approx(tokens * f / 2 * ab));
  }
  SECTION("GPT is the special case: MHA, GeLU with f = 4h, dropout") {
    const LayerShape gpt = LayerShape::gpt(h, a);
    LayerShape built = llama;
    built.kv_heads = a;
    built.intermediate = 4 * h;
    built.gated_mlp = false;
    built.dropout = true;
    for (Recompute r : kModes) CHECK(bytes(built, tp_plan(4, false), r) == bytes(gpt, tp_plan(4, false), r));
  }
  SECTION("fused attention keeps the softmax statistics instead of the s x s tensors") {
    LayerShape fused = llama;
    fused.fused_attention = true;
    CHECK(bytes(fused, tp_plan(4, true), Recompute::none) ==
          Approx(bytes(llama, tp_plan(4, true), Recompute::selective) + tokens * 4 * a / 4));
    CHECK(bytes(fused, tp_plan(4, true), Recompute::selective) == bytes(llama, tp_plan(4, true), Recompute::selective));
  }
}

TEST_CASE("training memory: more recompute never stores more activations", "[training][memory]") {
  const auto m = test::catalog_model("llama-3-8b");
  std::vector<LayerShape> layers{LayerShape::gpt(12288, 96), LayerShape::of(m)};
  LayerShape fused = LayerShape::of(m);
  fused.fused_attention = true;
  layers.push_back(fused);
  for (const LayerShape& l : layers)
    for (int tp : {1, 2, 8})
      for (bool sp : {false, true})
        for (int cp : {1, 2})
          for (double s : {128.0, 4096.0}) {
            const ParallelPlan p = tp_plan(tp, sp && tp > 1, cp);
            const double none = activation_bytes_per_layer(l, s, 1, p, Recompute::none);
            const double selective = activation_bytes_per_layer(l, s, 1, p, Recompute::selective);
            const double full = activation_bytes_per_layer(l, s, 1, p, Recompute::full);
            CHECK(selective <= none);
            CHECK(full < selective);
          }
}

TEST_CASE("training memory: block recompute of k of L layers stores between full recompute and none, linearly",
          "[training][memory]") {
  const auto m = test::catalog_model("llama-3-8b");
  MemoryInputs in(m);
  in.seq_len = 4096;
  in.layers = 32;
  in.layer.fused_attention = true;
  in.recompute = Recompute::none;
  const double none = rank_memory(in).activations;
  in.recompute = Recompute::full;
  const double full = rank_memory(in).activations;
  REQUIRE(full < none);
  for (double k : {0.0, 8.0, 32.0}) {
    INFO("k = " << k);
    in.recomputed_layers = k;
    CHECK(rank_memory(in).activations == Approx(none + (full - none) * k / 32).epsilon(1e-12));
  }
}

TEST_CASE("training memory: a rank's parameters agree with ModelSpec's counts", "[training][memory]") {
  const auto m = test::catalog_model("llama-3-8b");
  MemoryInputs in(m);
  in.seq_len = 4096;
  SECTION("one rank holding everything is the whole model") {
    const RankParameters r = rank_parameters(in);
    CHECK(r.count == static_cast<double>(m.parameters()));
    CHECK(r.stored_bytes == Approx(m.weight_bytes()));
  }
  SECTION("tensor parallelism splits as ModelSpec::weight_bytes_per_device (KV replicated past 8 ranks)") {
    for (int tp : {2, 4, 8, 16}) {
      in.plan.tp = tp;
      CHECK(rank_parameters(in).stored_bytes == Approx(m.weight_bytes_per_device(tp)));
    }
  }
  SECTION("pipeline stages add up to the model: embedding first, final norm and head last") {
    const double per = static_cast<double>(m.num_hidden_layers) / 4;
    double sum = 0;
    for (int stage = 0; stage < 4; ++stage) {
      in.layers = per;
      in.holds_embedding = stage == 0;
      in.holds_lm_head = stage == 3;
      sum += rank_parameters(in).count;
    }
    CHECK(sum == static_cast<double>(m.parameters()));
    in.holds_embedding = in.holds_lm_head = false;
    CHECK(rank_parameters(in).count == per * static_cast<double>(m.layer_parameters()));
  }
  SECTION("a tied head keeps its own copy on a last stage without the embedding") {
    auto tied = m;
    tied.tie_word_embeddings = true;
    MemoryInputs t(tied);
    t.seq_len = 4096;
    CHECK(rank_parameters(t).count == static_cast<double>(tied.parameters()));
    t.holds_embedding = false;
    t.layers = 0;
    CHECK(rank_parameters(t).count == static_cast<double>(m.vocab_size * m.hidden_size + m.hidden_size));
  }
}

TEST_CASE("training memory: a rank's breakdown adds up its components", "[training][memory]") {
  // Llama-3-8B, TP2 SP PP4 DP8 with Megatron's distributed optimizer (ZeRO 1), selective
  // recompute; the first stage under 1F1B holds p = 4 microbatches at its peak.
  const auto m = test::catalog_model("llama-3-8b");
  MemoryInputs in(m);
  in.plan.tp = 2;
  in.plan.sp = true;
  in.plan.pp = 4;
  in.plan.dp = 8;
  in.plan.zero = 1;
  in.seq_len = 8192;
  in.recompute = Recompute::selective;
  in.layers = 8;
  in.holds_lm_head = false;
  in.in_flight = 4;
  REQUIRE(in.master_weights);  // bf16 weights
  REQUIRE(in.activation_bytes == 2);

  const RankMemory mem = rank_memory(in);
  const RankParameters params = rank_parameters(in);
  const double psi = params.count;
  CHECK(mem.parameters == psi);
  CHECK(mem.weights == Approx(params.stored_bytes));
  CHECK(mem.weights == Approx(2 * psi));
  CHECK(mem.gradients == Approx(4 * psi));  // fp32 main grads, not sharded at stage 1
  CHECK(mem.master_weights == Approx(4 * psi / 8));
  CHECK(mem.optimizer_moments == Approx(8 * psi / 8));
  CHECK(mem.model_states() == Approx((6 + 12.0 / 8) * psi));  // Megatron's 6 + 12/d
  const double per_layer = activation_bytes_per_layer(in.layer, 8192, 1, in.plan, Recompute::selective, 2);
  CHECK(mem.activations == Approx(per_layer * 8 * 4));  // no dropout: the embedding adds nothing
  CHECK(mem.comm_buffers == 0);
  CHECK(mem.workspace == Approx(0.05 * (mem.model_states() + mem.activations) + GiB));
  CHECK(mem.total() == Approx(mem.model_states() + mem.activations + mem.comm_buffers + mem.workspace));

  SECTION("the last stage holds the head's fp32 logits, 4 s b V / t per held microbatch") {
    in.holds_embedding = false;
    in.holds_lm_head = true;
    in.in_flight = 1;
    const double head = lm_head_activation_bytes(in.layer, m.vocab_size, 8192, 1, in.plan, 2);
    CHECK(head == Approx(8192 * (2 * 4096.0 / 2 * 2 + 4.0 * static_cast<double>(m.vocab_size) / 2)));
    CHECK(rank_memory(in).activations == Approx(per_layer * 8 + head));
  }
  SECTION("interleaving: each held unit is one chunk of layers / v, the head rides on ceil(in_flight / v)") {
    in.plan.virtual_stages = 2;
    in.in_flight = 5;
    in.holds_lm_head = true;
    const double head = lm_head_activation_bytes(in.layer, m.vocab_size, 8192, 1, in.plan, 2);
    CHECK(rank_memory(in).activations == Approx(per_layer * 4 * 5 + head * 3));
    in.lm_head_in_flight = 1;
    CHECK(rank_memory(in).activations == Approx(per_layer * 4 * 5 + head));
  }
  SECTION("ZeRO 3 shards everything and holds two gathered layers and one layer's gradients") {
    in.plan.zero = 3;
    in.holds_embedding = false;
    const RankMemory z3 = rank_memory(in);
    const double layer = rank_parameters(in).count / 8;
    CHECK(z3.weights == Approx(2 * layer));
    CHECK(z3.model_states() == Approx((2 + 4 + 12) * 8 * layer / 8));
    CHECK(z3.comm_buffers == Approx(2 * 2 * layer + 4 * layer));
    in.comm_buffer_bytes = 0.0;
    CHECK(rank_memory(in).comm_buffers == 0);
  }
  SECTION("fp32 weights need no master copy") {
    auto fp32 = m;
    fp32.precision = models::Precision::all(DType::fp32);
    MemoryInputs f(fp32);
    CHECK_FALSE(f.master_weights);
    CHECK(f.activation_bytes == 4);
  }
  SECTION("bad inputs name the field") {
    in.seq_len = 0;
    REQUIRE_THROWS_WITH(rank_memory(in), Catch::Contains("seq_len = 0"));
    in.seq_len = 8192;
    in.plan.zero = 5;
    REQUIRE_THROWS_WITH(rank_memory(in), Catch::Contains("zero = 5"));
    in.plan.zero = 1;
    in.in_flight = -1;
    REQUIRE_THROWS_WITH(rank_memory(in), Catch::Contains("in_flight = -1"));
  }
}

TEST_CASE("training memory: the over-capacity message lists every component in GiB", "[training][memory]") {
  RankMemory mem;
  mem.weights = 12.1 * GiB;
  mem.gradients = 24.2 * GiB;
  mem.master_weights = 3.0 * GiB;
  mem.optimizer_moments = 6.0 * GiB;
  mem.activations = 40.4 * GiB;
  mem.comm_buffers = 0.5 * GiB;
  mem.workspace = 5.0 * GiB;
  CHECK(over_capacity(mem, "rank (stage 3)", 80 * GiB) ==
        "rank (stage 3): 91.2 GiB peak > 80.0 GiB: weights 12.1, gradients 24.2, master weights 3.0, "
        "optimizer moments 6.0, activations 40.4, comm buffers 0.5, workspace 5.0 GiB");
}

TEST_CASE("training memory: an offload moves the states, the gradient shard and the weights off the device",
          "[training][memory][offload]") {
  const auto m = test::catalog_model("llama-3-8b");
  MemoryInputs in(m);
  in.seq_len = 4096;
  in.plan.dp = 8;
  in.plan.zero = 3;
  in.grad_dtype = DType::bf16;
  const RankMemory on = rank_memory(in);
  in.offload_optimizer = true;
  const RankMemory states = rank_memory(in);
  CHECK(states.offloaded_states == Approx(on.optimizer_states()));
  CHECK(states.optimizer_states() == 0);
  // ZeRO >= 2 with the optimizer on the host: the reduced gradients follow it, one bucket stays (5e8 x 2 B).
  CHECK(states.gradients == Approx(std::min(on.gradients, 5e8 * 2)));
  CHECK(states.weights == on.weights);
  in.offload_weights = true;
  const RankMemory weights = rank_memory(in);
  CHECK(weights.weights == 0);
  CHECK(weights.offloaded_weights == Approx(on.weights));
  CHECK(weights.comm_buffers == on.comm_buffers);  // the gathered layers in use stay on the device
  in.plan.zero = 2;  // only ZeRO-3 shards the weights
  CHECK_THROWS_AS(rank_memory(in), InputError);
}
