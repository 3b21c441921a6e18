// Activation swapping, analytic: what MEMO's token-wise swap moves and recomputes per layer, the
// share `fraction: auto` chooses (the swap of one layer hidden under its forward, the host bytes
// within host memory), the backward's extra work, and the memory a device and its host keep.
#include <catch2/catch.hpp>

#include "models/model.hpp"
#include "sim/core/config.hpp"
#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"
#include "sim/training/activation_offload.hpp"

using namespace hetsim;
using namespace hetsim::training;

namespace {

std::unique_ptr<ActivationOffloadPolicy> memo(const std::string& yaml) {
  const auto doc = config::Document::load_string(yaml, "swap.yaml");
  return Registry<ActivationOffloadPolicy>::instance().make(doc.root(), "");
}

ParallelPlan tp(int t, bool sp) {
  ParallelPlan p;
  p.tp = t;
  p.sp = sp;
  return p;
}

}  // namespace

TEST_CASE("activation swap: a layer's parts per token are its input, its attention output and everything",
          "[training][swap]") {
  const LayerShape gpt = LayerShape::gpt(4096, 32);  // h 4096, 32 heads of 128
  const LayerActivationParts one = layer_activation_parts(gpt, tp(1, false), 2);
  CHECK(one.input == 2 * 4096);
  CHECK(one.attention_output == 2 * 4096 + 4 * 32);  // bf16 output and the fp32 log-sum-exp per head
  LayerShape fused = gpt;
  fused.fused_attention = true;
  CHECK(one.all == Approx(activation_bytes_per_layer(fused, 1000, 1, tp(1, false), Recompute::none, 2) / 1000));
  // Korthikanti's 34 sbh (no recompute, attention core aside) at 2 bytes, with fused attention's LSE.
  CHECK(one.all == Approx(34 * 4096 + 4 * 32));
  // TP8 with sequence parallelism: every part is 1/8 as wide.
  const LayerActivationParts eight = layer_activation_parts(gpt, tp(8, true), 2);
  CHECK(eight.input == Approx(one.input / 8));
  CHECK(eight.attention_output == Approx(one.attention_output / 8));
  CHECK(eight.all == Approx(one.all / 8));
}

TEST_CASE("activation swap: MEMO swaps the input and a share of attention outputs, recomputing the rest",
          "[training][swap]") {
  const LayerActivationParts parts{100, 60, 1000};
  const auto policy = memo("{impl: memo, fraction: 0.5}");
  REQUIRE(policy->fraction());
  CHECK(*policy->fraction() == 0.5);
  const SwapShape all = policy->shape(parts, 1);
  CHECK(all.host_bytes_per_token == 160);
  CHECK(all.recompute_linear == 1);
  CHECK(all.recompute_attention == 0);
  const SwapShape none = policy->shape(parts, 0);
  CHECK(none.host_bytes_per_token == 100);
  CHECK(none.recompute_attention == 1);  // every token's attention again: full recompute's cost
  // Half the tokens recomputed, the first half of each sequence: a quarter of the causal attention.
  CHECK(policy->shape(parts, 0.5).host_bytes_per_token == 130);
  CHECK(policy->shape(parts, 0.5).recompute_attention == Approx(0.25));
  CHECK_FALSE(memo("{impl: memo}")->fraction());
  CHECK_FALSE(memo("{impl: memo, fraction: auto}")->fraction());
  CHECK_THROWS_AS(memo("{impl: memo, fraction: 1.5}"), InputError);
}

TEST_CASE("activation swap: auto takes the largest share hidden under the forward and fitting the host",
          "[training][swap]") {
  const LayerActivationParts parts{100, 60, 1000};
  const auto policy = memo("{impl: memo}");
  // 1000 tokens, 1e-3 s of forward per layer: at 1.3e8 B/s the link moves 130 B per token: share 0.5.
  CHECK(auto_fraction(*policy, parts, 1000, 1e-3, 1.3e8, 1, 1, 1e12) == Approx(0.5));
  // A fast link: everything hides; the host (10 layers x 1000 tokens x 2 devices) takes 145 B per token.
  CHECK(auto_fraction(*policy, parts, 1000, 1e-3, 1e12, 10, 2, 10 * 1000 * 2 * 145.0) == Approx(0.75));
  CHECK(auto_fraction(*policy, parts, 1000, 1e-3, 1e12, 10, 2, 1e12) == 1);
  // The link too slow even for the inputs: share 0 (the inputs still go, exposed).
  CHECK(auto_fraction(*policy, parts, 1000, 1e-3, 1e7, 1, 1, 1e12) == 0);
  // The inputs alone overflow the host: an error, not a silent overcommit.
  CHECK_THROWS_AS(auto_fraction(*policy, parts, 1000, 1e-3, 1e12, 10, 2, 10 * 1000 * 2 * 99.0), InputError);
}

TEST_CASE("activation swap: the backward recomputes the linear share and the attention share of the forward",
          "[training][swap]") {
  PassCost recompute;
  recompute.seconds = 10;
  recompute.attention = 6;
  recompute.comm = 1;
  recompute.flops = 100;
  recompute.attention_flops = 70;
  const PassCost extra = swap_recompute(recompute, {0, 1, 0.25});
  CHECK(extra.seconds == Approx(4 + 1.5));
  CHECK(extra.comm == Approx(1));
  CHECK(extra.flops == Approx(30 + 17.5));
  CHECK(extra.attention == Approx(1.5));
  CHECK(extra.attention_flops == Approx(17.5));
  const PassCost nothing = swap_recompute(recompute, {0, 0, 0});
  CHECK(nothing.seconds == 0);
  CHECK(nothing.flops == 0);
}

TEST_CASE("activation swap: the device keeps two working layers, the host every held layer's swapped bytes",
          "[training][swap]") {
  const models::ModelSpec m = models::catalog_model("llama-2-7b");
  MemoryInputs in(m);
  in.plan = tp(8, true);
  in.seq_len = 65536;
  in.layer.fused_attention = true;
  in.in_flight = 3;
  in.holds_embedding = in.holds_lm_head = false;
  const RankMemory plain = rank_memory(in);
  in.swap = MemoryInputs::Swap{1000, 2};
  const RankMemory swapped = rank_memory(in);
  const double per_layer = activation_bytes_per_layer(in.layer, 65536, 1, in.plan, Recompute::none, 2);
  CHECK(plain.activations == Approx(per_layer * 32 * 3));
  CHECK(swapped.activations == Approx(per_layer * 2));
  CHECK(swapped.swapped_activations == Approx(65536.0 * 1000 * 32 * 3));
  CHECK(swapped.total() < plain.total());
  CHECK(swapped.weights == plain.weights);
  in.recompute = Recompute::full;  // the swap policy decides what is recomputed
  CHECK_THROWS_AS(rank_memory(in), InputError);
}
