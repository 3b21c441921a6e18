// The KV budget as vLLM accounts for it (sim/serving/memory_budget.hpp): each term on its own, the
// paged manager's use of them and its overrides, and the errors for bad values.
#include <catch2/catch.hpp>

#include "catalog_entries.hpp"
#include "hw/serving_stack.hpp"
#include "sim/core/registry.hpp"
#include "sim/serving/memory_budget.hpp"

using namespace hetsim;
using Catch::Matchers::Contains;

namespace {
constexpr double GiB = 1 << 30;

hw::ServingStack catalog_stack(const std::string& name) {
  return test::catalog_entry("stack", "hw/stacks", name, hw::parse_serving_stack);
}
hw::ServingStack stack_from(const std::string& yaml) {
  auto doc = config::Document::load_string(yaml, "stack.yaml");
  hw::ServingStack s = hw::parse_serving_stack(doc.root());
  doc.check_unknown_keys();
  return s;
}
hw::Device device_from(const std::string& memory_yaml) {
  auto doc = config::Document::load_string(
      "device: {preset: h100-sxm5-80gb, memory: " + memory_yaml + "}\n", "device.yaml");
  auto layered = catalog::with_preset(doc.root(), "device", "hw/catalog");
  hw::Device d = hw::parse_device(layered.node);
  layered.preset.check_unknown_keys();
  return d;
}
/// A paged KV manager from its YAML map, sized from `sizing`.
std::unique_ptr<policies::KvManager> paged(const std::string& yaml, const policies::KvSizing& sizing) {
  static std::vector<config::Document> docs;  // the manager keeps a handle on its config
  docs.push_back(config::Document::load_string("kv_cache: " + yaml + "\n", "scenario.yaml"));
  auto kv = Registry<policies::KvManager>::instance().make(docs.back().root().child("kv_cache"), "paged");
  kv->size(sizing);
  return kv;
}
}  // namespace

TEST_CASE("memory: usable device memory is what the driver reports, else the datasheet", "[memory][hw]") {
  const hw::Device h100 = test::catalog_device("h100-sxm5-80gb");
  CHECK(h100.usable_memory == Approx(79.18 * GiB));  // llm-d's vLLM 0.11 logs: total_gpu_memory 79.18 GiB
  CHECK(h100.usable_memory_source == "driver-reported total");
  CHECK(h100.memory().capacity == 80e9);  // the datasheet figure stays the slot size
  CHECK(test::catalog_device("a100-sxm4-80gb").usable_memory == Approx(79.25 * GiB));
  const hw::Device h200 = test::catalog_device("h200-sxm-141gb");  // no public driver figure
  CHECK(h200.usable_memory == h200.memory().capacity);
  CHECK(h200.usable_memory_source == "datasheet capacity (no driver figure)");
  CHECK(device_from("{usable: 79.22 GiB}").usable_memory == Approx(79.22 * GiB));
  // Datasheet "GB" are often GiB (80 GiB of HBM3 on an H100): up to the capacity read in binary units.
  CHECK(device_from("{usable: 80 GiB}").usable_memory == Approx(80 * GiB));
  CHECK_THROWS_WITH(device_from("{usable: 81 GiB}"), Contains("device.memory.usable = 81 GiB: expected at most the capacity"));
  CHECK_THROWS_WITH(device_from("{usable: -1 GiB}"), Contains("device.memory.usable"));
}

TEST_CASE("memory: the serving stack's non-torch memory follows the TP degree", "[memory][stack]") {
  const hw::ServingStack v1 = catalog_stack("vllm-v1");
  CHECK(v1.non_torch_for(1) == Approx(0.13 * GiB));  // llm-d, vLLM 0.11, H100 TP1
  CHECK(v1.non_torch_for(2) == Approx(0.55 * GiB));  // TP2
  CHECK(v1.non_torch_for(8) == Approx(0.55 * GiB));  // ASSUMPTION: larger groups as TP2
  CHECK(v1.graph_pool == 0);                          // graphs captured after the KV cache is sized
  CHECK(v1.sampler_bytes_per_logit == Approx(38.3));
  const hw::ServingStack v0 = catalog_stack("vllm-v0");
  CHECK(v0.non_torch_for(1) == Approx(1.79 * GiB));  // vllm-project/vllm#10511
  CHECK(v0.non_torch_for(2) == Approx(3.58 * GiB));
  const hw::ServingStack none = catalog_stack("none");
  CHECK(none.non_torch_for(1) == 0);
  CHECK(none.sampler_bytes_per_logit == 4);  // fp32 logits alone
  CHECK(stack_from("memory: {non_torch: 1 GiB}").non_torch_for(4) == Approx(1 * GiB));
  CHECK(stack_from("cuda_graphs: {pool: 2 GiB}").graph_pool == Approx(2 * GiB));
  CHECK_THROWS_WITH(stack_from("memory: {non_torch: {2: 1 GiB}}"), Contains("memory.non_torch: expected a size for tensor-parallel degree 1"));
  CHECK_THROWS_WITH(stack_from("memory: {non_torch: {1: 1 GiB, two: 1 GiB}}"), Contains("memory.non_torch.two"));
  CHECK_THROWS_WITH(stack_from("memory: {non_torch: -1 GiB}"), Contains("memory.non_torch = -1 GiB"));
  CHECK_THROWS_WITH(stack_from("memory: {sampler_bytes_per_logit: -2}"), Contains("memory.sampler_bytes_per_logit = -2"));
  CHECK_THROWS_WITH(stack_from("cuda_graphs: {pool: -1 GiB}"), Contains("cuda_graphs.pool = -1 GiB"));
}

TEST_CASE("memory: the activation peak of the largest step", "[memory][activation]") {
  const models::ModelSpec llama = test::catalog_model("llama-3-8b");
  const policies::StepLimits step{8192, 1024};
  const auto a = serving::activation_peak(llama, 1, step, 38.3);
  // forward: 8192 tokens x (2 x 4096 residual + normed, 3 x 14336 gate/up + SiLU-mul) x 2 bytes
  CHECK(a.forward == Approx(8192.0 * (2 * 4096 + 3 * 14336) * 2));
  // sampler: 1024 rows of 128256 logits x 38.3 bytes, beside 8192 x 4096 bf16 hidden states
  CHECK(a.sampler == Approx(1024.0 * 128256 * 38.3 + 8192.0 * 4096 * 2));
  CHECK(a.peak() == a.sampler);
  // Against vLLM 0.11's logged peak for Llama-3.1-8B on an H100 (llm-d): 4.76 GiB (a fit case).
  CHECK(a.peak() / GiB == Approx(4.76).epsilon(0.01));
  // Tensor parallelism splits the forward pass but not the sampled vocabulary: the TP2 peak stays,
  // as vLLM logs it (1.26 GiB at TP1 and TP2 in vllm-project/vllm#10511, 256 sequences).
  const auto tp1 = serving::activation_peak(llama, 1, {8192, 256}, 38.3);
  const auto tp2 = serving::activation_peak(llama, 2, {8192, 256}, 38.3);
  CHECK(tp2.forward < tp1.forward);
  CHECK(tp2.sampler == tp1.sampler);
  CHECK(tp2.peak() / GiB == Approx(1.26).epsilon(0.03));
  // A step of fewer tokens than sequences samples one row per token (vLLM's min(max_num_seqs, tokens)).
  CHECK(serving::activation_peak(llama, 1, {512, 1024}, 4).sampler == Approx(512.0 * 128256 * 4 + 512.0 * 4096 * 2));
  // A small vocabulary and a chunk-sized step: the forward pass peaks.
  auto small = llama;
  small.vocab_size = 1000;
  const auto f = serving::activation_peak(small, 1, {8192, 256}, 38.3);
  CHECK(f.peak() == f.forward);
}

TEST_CASE("memory: kv_sizing gathers the terms for one device of the replica", "[memory]") {
  const hw::Device h100 = test::catalog_device("h100-sxm5-80gb");
  const models::ModelSpec llama = test::catalog_model("llama-3-8b");
  const hw::ServingStack v1 = catalog_stack("vllm-v1");
  const auto s = serving::kv_sizing(h100, llama, v1, 2, {8192, 256}, true);
  CHECK(s.device_memory_bytes == h100.usable_memory);
  CHECK(s.weight_bytes == llama.weight_bytes_per_device(2));
  CHECK(s.activation_bytes == serving::activation_peak(llama, 2, {8192, 256}, 38.3).peak());
  CHECK(s.non_torch_bytes == Approx(0.55 * GiB));
  CHECK(s.graph_bytes == 0);
  CHECK(s.kv_bytes_per_token == llama.kv_bytes_per_token(2));
  CHECK(serving::kv_sizing(h100, llama, v1, 1, {8192, 256}, false).weight_bytes == 0);  // weights in flash
}

TEST_CASE("memory: the paged manager applies the utilization and the overrides", "[memory][kv]") {
  policies::KvSizing s;
  s.device_memory_bytes = 80 * GiB;
  s.weight_bytes = 15 * GiB;
  s.activation_bytes = 1.5 * GiB;
  s.non_torch_bytes = 0.5 * GiB;
  s.graph_bytes = 1 * GiB;
  s.kv_bytes_per_token = 128 * 1024;  // one block of 16 tokens = 2 MiB
  SECTION("KV = usable x utilization - weights - activation - non-torch - graphs") {
    const auto kv = paged("{block_size: 16, gpu_memory_utilization: 0.9}", s);
    const auto& m = kv->memory();
    CHECK(m.kv == Approx(80 * 0.9 * GiB - 18 * GiB));
    CHECK(kv->total_blocks() == static_cast<std::int64_t>((80 * 0.9 - 18) * 512));  // 512 blocks per GiB
    CHECK(m.blocks == kv->total_blocks());
    CHECK_FALSE(m.activation_given);
    CHECK_FALSE(m.kv_given);
  }
  SECTION("activation_reserve replaces the computed peak") {
    const auto kv = paged("{block_size: 16, gpu_memory_utilization: 0.9, activation_reserve: 4 GiB}", s);
    CHECK(kv->memory().activation == Approx(4 * GiB));
    CHECK(kv->memory().activation_given);
    CHECK(kv->memory().kv == Approx(80 * 0.9 * GiB - 20.5 * GiB));
  }
  SECTION("kv_cache_memory gives the KV size, as vLLM's --kv-cache-memory") {
    const auto kv = paged("{block_size: 16, kv_cache_memory: 10 GiB}", s);
    CHECK(kv->memory().kv_given);
    CHECK(kv->total_blocks() == 10 * 512);
    // It must still fit the device: 80 - 18 = 62 GiB are left.
    CHECK_THROWS_WITH(paged("{block_size: 16, kv_cache_memory: 63 GiB}", s),
                      Contains("kv_cache.kv_cache_memory = 63 GiB: expected at most the 62.00 GiB left"));
    CHECK_THROWS_WITH(paged("{block_size: 16, kv_cache_memory: 1 MiB}", s),
                      Contains("kv_cache.kv_cache_memory = 1 MiB: expected at least one block of 16 tokens"));
  }
  SECTION("no block fits: the message shows every term") {
    CHECK_THROWS_WITH(paged("{gpu_memory_utilization: 0.2}", s),
                      Contains("no KV block fits: 80.00 GiB usable x 0.2 utilization - 15.00 GiB weights - 1.50 GiB "
                               "activation peak - 0.50 GiB non-torch - 1.00 GiB CUDA graphs leaves -2.00 GiB"));
  }
  SECTION("bad values name the key") {
    CHECK_THROWS_WITH(paged("{gpu_memory_utilization: 1.5}", s), Contains("kv_cache.gpu_memory_utilization = 1.5: expected"));
    CHECK_THROWS_WITH(paged("{gpu_memory_utilization: 0}", s), Contains("kv_cache.gpu_memory_utilization = 0: expected"));
    CHECK_THROWS_WITH(paged("{activation_reserve: -1 GiB}", s), Contains("kv_cache.activation_reserve = -1 GiB"));
    CHECK_THROWS_WITH(paged("{kv_cache_memory: 0 GiB}", s), Contains("kv_cache.kv_cache_memory = 0 GiB"));
  }
}
