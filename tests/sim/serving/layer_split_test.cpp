// Placement by layer range (offload impl layers, llama.cpp's -ngl): on an idle platform a step is
// the GPU's layers + the host's layers + the link's crossings, each side priced by its own device;
// large steps stream the host layers' weights to the GPU and pay for them on the link; the keys
// are checked against the model and the policy.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "catalog_entries.hpp"
#include "hw/cost_model.hpp"
#include "sim/scenario/offload_config.hpp"
#include "sim/serving/expert_split.hpp"
#include "sim/serving/step_pricer.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {

std::shared_ptr<serving::OffloadPlan> split_plan(const models::ModelSpec& m, int gpu_layers, bool output_on_gpu,
                                                 std::int64_t stream_at, const std::string& host = "xeon-8480plus",
                                                 int host_experts = 0) {
  auto plan = std::make_shared<serving::OffloadPlan>();
  plan->policy = "layers";
  plan->device = std::make_shared<const hw::Device>(test::catalog_device(host));
  plan->link = {"pcie", 32e9, 3e-6};
  plan->layers = serving::LayerSplit{.total_layers = static_cast<int>(m.num_hidden_layers),
                                     .gpu_layers = gpu_layers,
                                     .output_on_gpu = output_on_gpu,
                                     .stream_at = stream_at,
                                     .dense_layers = static_cast<int>(m.moe.enabled() ? m.moe.dense_layers : m.num_hidden_layers),
                                     .host_expert_layers = host_experts};
  return plan;
}

/// `op` with `instances` of it (0: none) on `cost`, its operands in that device's own memory.
double on(const hw::CostModel& cost, Op op, double instances) {
  if (instances <= 0) return 0;
  op.repeat = instances;
  op.weights.tier = op.activations.tier = op.kv.tier = kHomeTier;
  return cost.time(op);
}

bool is_output(const Op& op) { return op.name == "final_norm" || op.name == "lm_head"; }

/// Llama-3.1-8B as llama.cpp runs it on a desktop CPU (no 16-bit arithmetic): 8-bit weights and
/// integer dot products, fp32 activations.
models::ModelSpec llamacpp_model() {
  auto model = test::catalog_model("llama-3.1-8b");
  model.precision.weights = model.precision.gemm = DType::int8;
  model.precision.activations = DType::fp32;
  return model;
}

}  // namespace

TEST_CASE("layer split: a decode step is the GPU's layers + the host's layers + the hidden state's crossings",
          "[serving][offload][layers]") {
  const auto model = test::catalog_model("llama-3.1-8b");
  const hw::Device gpu = test::catalog_device("rtx-4090-24gb");
  const hw::Device host = test::catalog_device("xeon-8480plus");
  const hw::CostModel gpu_cost(gpu), host_cost(host);
  const hw::ServingStack stack;  // no host work: the step is the device time
  const ParallelPlan tp1;
  models::BatchShape b;
  for (int i = 0; i < 3; ++i) b.add_decode(700 + 100 * i);
  // Every op of the step, as one device would run it (the reference takes them from there).
  const serving::StepExplanation x = serving::StepPricer(model, tp1, gpu, {}, stack).explain(b);
  const double L = static_cast<double>(model.num_hidden_layers);
  const double row = static_cast<double>(model.hidden_size) * bytes_per_element(model.precision.activations);
  for (int n : {0, 1, 12, 32}) {
    for (bool output_on_gpu : {false, true}) {
      INFO(fmt::format("gpu_layers {} output_on_gpu {}", n, output_on_gpu));
      const auto plan = split_plan(model, n, output_on_gpu, 32);
      serving::StepPricer pricer(model, tp1, gpu, {}, stack, plan);
      const double step = pricer.price(b);
      double gpu_time = 0, host_time = 0;
      for (const auto& c : x.ops) {
        if (c.op.name == "embedding") {
          host_time += on(host_cost, c.op, 1);
        } else if (is_output(c.op)) {
          (output_on_gpu ? gpu_time : host_time) += on(output_on_gpu ? gpu_cost : host_cost, c.op, 1);
        } else {
          REQUIRE(c.op.repeat == L);
          gpu_time += on(gpu_cost, c.op, n);
          host_time += on(host_cost, c.op, L - n);
        }
      }
      // The embedding's rows go up to the first GPU layer; the output's rows (one per sequence) cross
      // once more when the output runs on the other side from the last layer.
      const bool last_on_gpu = n > 0;
      double bytes = 0, crossings = 0;
      if (n > 0) bytes += 3 * row, crossings += 1;
      if (output_on_gpu != last_on_gpu) bytes += 3 * row, crossings += 1;
      const double link = bytes / plan->link.bandwidth + crossings * plan->link.latency;
      CHECK(step == Approx(gpu_time + host_time + link).epsilon(1e-9));
      CHECK(pricer.last_offload() == Approx(host_time).epsilon(1e-9));
      CHECK(pricer.last_offload_bytes() == Approx(bytes).epsilon(1e-12));
    }
  }
  // The host is the slower side: each layer moved to the GPU shortens the step.
  double previous = 1e9;
  for (int n = 0; n <= 32; n += 4) {
    serving::StepPricer pricer(model, tp1, gpu, {}, stack, split_plan(model, n, n == 32, 32));
    const double step = pricer.price(b);
    CHECK(step < previous);
    previous = step;
  }
}

TEST_CASE("layer split: large steps stream the host layers' weights to the GPU over the link", "[serving][offload][layers]") {
  const auto model = llamacpp_model();
  const hw::Device gpu = test::catalog_device("rtx-4090-24gb");
  const hw::ServingStack stack;
  const ParallelPlan tp1;
  const double L = static_cast<double>(model.num_hidden_layers);
  const int n = 8;
  models::BatchShape prefill;
  prefill.add_prefill(512, 0, true);
  models::BatchShape decode;
  decode.add_decode(512);
  serving::StepPricer streamed(model, tp1, gpu, {}, stack, split_plan(model, n, false, 32, "core-i7-8700"));
  serving::StepPricer on_host(model, tp1, gpu, {}, stack, split_plan(model, n, false, 0, "core-i7-8700"));
  const double t_streamed = streamed.price(prefill);
  const double t_host = on_host.price(prefill);
  // Every host layer's weights cross once: the link carries at least them, and the step takes at
  // least their transfer time.
  const double weights = (L - n) * model.layer_weight_bytes();
  // Besides the weights, each streamed layer sends its q, k, v down to the host's attention and gets
  // the output back (fp32: 4 bytes); the embedding's rows go up first, the last row comes back for the output.
  const double row = static_cast<double>(model.hidden_size) * 4;
  const double per_token = static_cast<double>(2 * model.num_attention_heads + 2 * model.num_key_value_heads) *
                           static_cast<double>(model.head_dim) * 4;
  CHECK(streamed.last_offload_bytes() == Approx(weights + (L - n) * 512 * per_token + 513 * row).epsilon(1e-9));
  CHECK(t_streamed >= weights / 32e9);
  CHECK(streamed.last_streamed_bytes() == Approx(weights).epsilon(1e-12));
  CHECK(on_host.last_streamed_bytes() == 0);
  // A 512-token prompt is compute-bound on the CPU: streaming it to the GPU is faster (llama.cpp's reason).
  CHECK(t_streamed < t_host / 5);
  // Without streaming only the hidden state crosses: 512 rows up to the GPU's layers, the last one back to the output.
  CHECK(on_host.last_offload_bytes() == Approx(513 * row).epsilon(1e-12));
  // A decode step (1 token) stays on the host either way: the same time.
  CHECK(streamed.price(decode) == on_host.price(decode));
}

TEST_CASE("layer split: stream_at auto takes each step's faster side, host compute or weights copied to the GPU",
          "[serving][offload][layers]") {
  const auto model = llamacpp_model();  // on the desktop CPU of the streaming case above, an i7-8700
  const hw::Device gpu = test::catalog_device("rtx-4090-24gb");
  const hw::ServingStack stack;
  const ParallelPlan tp1;
  const int n = 24;
  for (bool output_on_gpu : {true, false}) {
    // A PCIe 3.0 x8 slot (7.88 GB/s): slower than the host's DRAM, so a token's weights are read
    // faster where they are than copied (over a link faster than the host's memory, every step streams).
    const auto plan = [&](std::int64_t stream_at) {
      auto p = split_plan(model, n, output_on_gpu, stream_at, "core-i7-8700");
      p->link = {"pcie3x8", 7.88e9, 10e-6};
      return p;
    };
    const auto by_cost = plan(0);
    by_cost->layers->stream_by_cost = true;
    serving::StepPricer never(model, tp1, gpu, {}, stack, plan(0));
    serving::StepPricer always(model, tp1, gpu, {}, stack, plan(1));
    serving::StepPricer llamacpp(model, tp1, gpu, {}, stack, plan(32));
    serving::StepPricer pricer(model, tp1, gpu, {}, stack, by_cost);
    std::int64_t first_streamed = 0;
    bool beats_threshold = false;
    for (std::int64_t tokens : {1, 2, 4, 8, 16, 24, 32, 64, 512}) {
      INFO(fmt::format("output_on_gpu {}, a {}-token prompt", output_on_gpu, tokens));
      models::BatchShape b;
      b.add_prefill(tokens, 0, true);
      const double t_never = never.price(b), t_always = always.price(b), t_auto = pricer.price(b);
      CHECK(t_auto <= std::min(t_never, t_always));
      if (output_on_gpu) {
        // Only the host layers are to choose: the step is the faster of the two fixed orders, with its bytes.
        CHECK(t_auto == std::min(t_never, t_always));
        CHECK(pricer.last_offload_bytes() == (t_never <= t_always ? never : always).last_offload_bytes());
      } else {
        // One logit row never pays for copying the LM head's weights: it stays on the host.
        CHECK_FALSE(pricer.last_stream_choice().output);
      }
      CHECK(pricer.last_stream_choice().layers == (pricer.last_offload_bytes() > never.last_offload_bytes()));
      if (pricer.last_stream_choice().layers && first_streamed == 0) first_streamed = tokens;
      // Once streaming pays it pays for every larger step (the host's time grows with tokens, the copy's does not).
      if (first_streamed > 0) CHECK(pricer.last_stream_choice().layers);
      if (t_auto < llamacpp.price(b) * (1 - 1e-9)) beats_threshold = true;
    }
    // A token stays on the CPU, a long prompt goes to the GPU, and the crossing is not llama.cpp's
    // fixed 32 tokens, so some prompt size is faster by cost than by the threshold.
    CHECK(first_streamed > 1);
    CHECK(first_streamed < 512);
    CHECK(beats_threshold);
  }
}

TEST_CASE("layer split: an MoE model's routed experts of the first layers run on the host (--n-cpu-moe)",
          "[serving][offload][layers]") {
  const auto model = test::catalog_model("qwen3-30b-a3b");  // 48 MoE layers, 128 experts, top-8
  const hw::Device gpu = test::catalog_device("rtx-4090-24gb");
  const hw::Device host = test::catalog_device("xeon-8480plus");
  const hw::CostModel gpu_cost(gpu), host_cost(host);
  const hw::ServingStack stack;
  const ParallelPlan tp1;
  models::BatchShape b;
  b.add_decode(900);
  const serving::StepExplanation x = serving::StepPricer(model, tp1, gpu, {}, stack).explain(b);
  const double L = 48;
  const double row = static_cast<double>(model.hidden_size) * bytes_per_element(model.precision.activations);
  for (int n : {48, 40}) {
    for (int k : {0, 12, 48}) {
      INFO(fmt::format("gpu_layers {} host_experts {}", n, k));
      const auto plan = split_plan(model, n, n == 48, 32, "xeon-8480plus", k);
      serving::StepPricer pricer(model, tp1, gpu, {}, stack, plan);
      const double step = pricer.price(b);
      // Routed experts run on the host for its own layers and the first k; everything else with its layer.
      const double host_experts = std::max<double>(L - n, k), apart = host_experts - (L - n);
      double gpu_time = 0, host_time = 0;
      for (const auto& c : x.ops) {
        if (c.op.name == "embedding") {
          host_time += on(host_cost, c.op, 1);
        } else if (is_output(c.op)) {
          (n == 48 ? gpu_time : host_time) += on(n == 48 ? gpu_cost : host_cost, c.op, 1);
        } else {
          REQUIRE(c.op.repeat == L);
          const double on_host = serving::is_routed_expert_op(c.op) ? host_experts : L - n;
          gpu_time += on(gpu_cost, c.op, L - on_host);
          host_time += on(host_cost, c.op, on_host);
        }
      }
      // Up to the GPU's first layer, down and up for each GPU layer's host experts, down to a host output.
      const double crossings = 1 + 2 * apart + (n == 48 ? 0 : 1);
      const double link = crossings * row / plan->link.bandwidth + crossings * plan->link.latency;
      CHECK(step == Approx(gpu_time + host_time + link).epsilon(1e-9));
      CHECK(pricer.last_offload_bytes() == Approx(crossings * row).epsilon(1e-12));
      CHECK(plan->layers->experts_apart() == apart);
    }
  }
  // Each layer's experts moved to the (slower, per token) host costs time.
  serving::StepPricer none(model, tp1, gpu, {}, stack, split_plan(model, 48, true, 32, "xeon-8480plus", 0));
  serving::StepPricer some(model, tp1, gpu, {}, stack, split_plan(model, 48, true, 32, "xeon-8480plus", 24));
  CHECK(some.price(b) > none.price(b));
}

TEST_CASE("layer split: keys are checked against the model and the policy", "[serving][offload][layers]") {
  const auto model = test::catalog_model("llama-3.1-8b");
  const hw::Device gpu = test::catalog_device("rtx-4090-24gb");
  auto parse = [&](const std::string& yaml, const models::ModelSpec& m, int tp) {
    auto d = config::Document::load_string(yaml, "s.yaml");
    return sim::parse_offload(d.root().child("cluster"), m, gpu, tp);
  };
  const auto ok = parse("cluster: {offload: {impl: layers, gpu_layers: 20}}\n", model, 1);
  REQUIRE(ok);
  REQUIRE(ok->layers);
  CHECK(ok->layers->gpu_layers == 20);
  CHECK(ok->layers->host_layers() == 12);
  CHECK_FALSE(ok->layers->output_on_gpu);  // llama.cpp: only once every layer is on the GPU
  CHECK(ok->layers->stream_at == 32);
  CHECK(ok->link.bandwidth == gpu.host.bandwidth);
  CHECK(parse("cluster: {offload: {impl: layers, gpu_layers: 32}}\n", model, 1)->layers->output_on_gpu);
  const auto by_cost = parse("cluster: {offload: {impl: layers, gpu_layers: 20, stream_at: auto}}\n", model, 1);
  CHECK(by_cost->layers->stream_by_cost);
  CHECK(parse("cluster: {offload: {impl: layers, gpu_layers: 20, stream_at: 0}}\n", model, 1)->layers->stream_at == 0);
  for (const char* bad : {"soon", "-1", "2.5"})
    CHECK_THROWS_WITH(parse(fmt::format("cluster: {{offload: {{impl: layers, gpu_layers: 20, stream_at: {}}}}}\n", bad), model, 1),
                      Contains("cluster.offload.stream_at") && Contains(bad) && Contains("auto"));
  CHECK_THROWS_WITH(parse("cluster: {offload: {impl: layers}}\n", model, 1), Contains("cluster.offload") && Contains("'gpu_layers'"));
  CHECK_THROWS_WITH(parse("cluster: {offload: {impl: layers, gpu_layers: 33}}\n", model, 1),
                    Contains("cluster.offload.gpu_layers") && Contains("33"));
  CHECK_THROWS_WITH(parse("cluster: {offload: {impl: layers, gpu_layers: 4, ops: [attention_decode]}}\n", model, 1),
                    Contains("cluster.offload.ops") && Contains("whole layers"));
  CHECK_THROWS_WITH(parse("cluster: {offload: {impl: layers, gpu_layers: 4, pipelining: ping_pong}}\n", model, 1),
                    Contains("cluster.offload.pipelining"));
  CHECK_THROWS_WITH(parse("cluster: {offload: {impl: neo, gpu_layers: 4}}\n", model, 1),
                    Contains("cluster.offload.gpu_layers") && Contains("impl layers"));
  CHECK_THROWS_WITH(parse("cluster: {offload: {impl: layers, gpu_layers: 4}}\n", model, 2),
                    Contains("tensor_parallel 1"));
  const auto moe = parse("cluster: {offload: {impl: layers, gpu_layers: 32, host_experts: 20}}\n", test::catalog_model("mixtral-8x7b"), 1);
  REQUIRE(moe);
  CHECK(moe->layers->host_expert_layers == 20);
  CHECK(moe->layers->dense_layers == 0);
  CHECK(moe->layers->experts_apart() == 20);
  CHECK_THROWS_WITH(parse("cluster: {offload: {impl: layers, gpu_layers: 4, host_experts: 2}}\n", model, 1),
                    Contains("cluster.offload.host_experts") && Contains("no routed experts"));
  // A host that cannot compute in the model's dtype: the i7-8700 has no 16-bit arithmetic.
  CHECK_THROWS_WITH(parse("cluster: {offload: {impl: layers, gpu_layers: 4, device: core-i7-8700}}\n", model, 1),
                    Contains("cluster.offload.device") && Contains("core-i7-8700") && Contains("bf16"));
}
