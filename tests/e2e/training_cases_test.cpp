// Published training throughput (validation/training_cases.yaml): every row parses, its plan and
// batch add up to its GPU count, its derived columns agree with the ones it was derived from, and
// the GPT rows' model shapes give the parameter totals their source states. NeMo's DGX-H100 FP8
// rows (G1): TP x PP x CP x DP is the GPU count, the global batch splits into whole micro-batches per
// data-parallel rank, the interleaved rows split their layers and micro-batches as Megatron requires,
// and the model (catalog entry or inline GPT shape) takes the row's TP and sequence length.
#include <catch2/catch.hpp>

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <set>

#include "catalog_entries.hpp"
#include "sim/training/stage_costs.hpp"
#include "support.hpp"

using namespace hetsim;

TEST_CASE("training cases: every published row is complete and self-consistent", "[validation][training]") {
  const YAML::Node doc = YAML::LoadFile(test::source_dir() + "/validation/training_cases.yaml");
  const auto devices = catalog::names("hw/catalog");
  std::set<std::string> ids;
  int megatron = 0, mpt = 0, nemo = 0, deepseek = 0;
  REQUIRE(doc["cases"].IsSequence());
  for (const auto& c : doc["cases"]) {
    const std::string id = c["id"].as<std::string>();
    INFO(id);
    CHECK(ids.insert(id).second);
    CHECK(c["source"]["url"].as<std::string>().rfind("https://", 0) == 0);
    CHECK_FALSE(c["source"]["table"].as<std::string>().empty());
    CHECK(std::count(devices.begin(), devices.end(), c["device"].as<std::string>()) == 1);
    const int gpus = c["gpus"].as<int>();
    CHECK(gpus > 0);
    REQUIRE(c["measured"].IsMap());
    CHECK(c["measured"].size() > 0);
    if (const auto plan = c["plan"]) {
      const int cp = plan["cp"] ? plan["cp"].as<int>() : 1;
      CHECK(cp >= 1);
      CHECK(plan["tp"].as<int>() * plan["pp"].as<int>() * cp * plan["dp"].as<int>() == gpus);
      if (c["micro_batch"])  // whole micro-batches per data-parallel rank
        CHECK(c["global_batch"].as<int>() % (c["micro_batch"].as<int>() * plan["dp"].as<int>()) == 0);
    }
    if (c["micro_batch"] && c["grad_accum"])  // sequences per step = micro x accumulation x data-parallel ranks
      CHECK(c["micro_batch"].as<int>() * c["grad_accum"].as<int>() * c["plan"]["dp"].as<int>() == c["global_batch"].as<int>());
    const auto measured = c["measured"];
    if (measured["tokens_per_s"] && measured["tokens_per_s_per_gpu"])
      CHECK(std::abs(measured["tokens_per_s"].as<double>() / gpus - measured["tokens_per_s_per_gpu"].as<double>()) < 1.0);
    const std::string ref = c["source"]["ref"].as<std::string>();
    if (ref == "N1") {
      ++megatron;
      // A100 dense 16-bit peak 312 TFLOP/s; the table rounds to whole percent and 0.1 PFLOP/s.
      const double tflops = measured["tflops_per_gpu"].as<double>();
      CHECK(std::abs(tflops / 312 - measured["peak_fraction"].as<double>()) < 0.006);
      CHECK(measured["aggregate_pflops"].as<double>() == Approx(tflops * gpus / 1000).epsilon(0.01));
      // The shape gives the published size (Narayanan et al. Eq. (2), to the table's 0.1B; hetsim also
      // counts the final LayerNorm's 2h).
      const auto m = c["model"];
      const auto spec = [&] {
        auto d = config::Document::load_string(
            fmt::format("model: {{preset: gpt3-175b, name: {}, hidden_size: {}, intermediate_size: {}, num_attention_heads: {}, "
                        "num_hidden_layers: {}, vocab_size: {}, max_position_embeddings: {}}}\n",
                        id, m["hidden"].as<int>(), m["ffn"].as<int>(), m["heads"].as<int>(), m["layers"].as<int>(),
                        m["vocab"].as<int>(), m["seq_len"].as<int>()),
            "case.yaml");
        auto layered = catalog::with_preset(d.root(), "model", "models/catalog");
        return models::parse_model(layered.node);
      }();
      CHECK(std::abs(static_cast<double>(spec.parameters()) / 1e9 - m["params_b"].as<double>()) <= 0.05);
      CHECK(spec.tensor_parallel_problem(c["plan"]["tp"].as<int>()).empty());
    }
    if (ref == "G1") {
      ++nemo;
      CHECK(c["source"]["commit"].as<std::string>().size() == 40);
      CHECK(c["device"].as<std::string>() == "h100-sxm5-80gb");
      CHECK(c["precision"].as<std::string>() == "fp8");
      CHECK_FALSE(c["recompute"]);  // not published
      CHECK(measured["tokens_per_s_per_gpu"].as<double>() > 0);
      CHECK(measured["tflops_per_gpu"].as<double>() > 0);
      const auto m = c["model"];
      const auto p = c["plan"];
      const int tp = p["tp"].as<int>(), pp = p["pp"].as<int>(), vp = p["vp"].as<int>(), dp = p["dp"].as<int>();
      const auto spec = [&] {
        if (m["catalog"]) return test::catalog_model(m["catalog"].as<std::string>());
        auto d = config::Document::load_string(
            fmt::format("model: {{preset: gpt3-175b, name: {}, hidden_size: {}, intermediate_size: {}, num_attention_heads: {}, "
                        "num_hidden_layers: {}, vocab_size: {}, max_position_embeddings: {}}}\n",
                        id, m["hidden"].as<int>(), m["ffn"].as<int>(), m["heads"].as<int>(), m["layers"].as<int>(),
                        m["vocab"].as<int>(), m["seq_len"].as<int>()),
            "case.yaml");
        return models::parse_model(catalog::with_preset(d.root(), "model", "models/catalog").node);
      }();
      CHECK((m["family"].as<std::string>() == "llama") == spec.gated_mlp);  // Llama: SwiGLU; GPT: GELU MLP
      CHECK(spec.max_position_embeddings >= m["seq_len"].as<int>());
      CHECK(spec.tensor_parallel_problem(tp).empty());
      // NeMo's "Model TFLOP / sec / GPU" is its tokens/s/GPU times Megatron's model FLOPs per token
      // (full attention, no recompute; hetsim's training::megatron_model_flops): the two published
      // columns agree to 0.2% on every row (the GPT rows' unpadded vocabulary is most of that).
      const auto seq = m["seq_len"].as<std::int64_t>();
      const double flops_per_token = training::megatron_model_flops(spec, 1, seq) / static_cast<double>(seq);
      CHECK(measured["tflops_per_gpu"].as<double>() * 1e12 / measured["tokens_per_s_per_gpu"].as<double>() ==
            Approx(flops_per_token).epsilon(0.005));
      const int microbatches = c["global_batch"].as<int>() / (c["micro_batch"].as<int>() * dp);
      if (vp > 1) {  // Megatron's interleaved schedule: layers split evenly into pp x vp chunks, micro-batches a multiple of pp
        CHECK(pp > 1);
        CHECK(spec.num_hidden_layers % (pp * vp) == 0);
        CHECK(microbatches % pp == 0);
      }
    }
    if (ref == "D1" || ref == "B1") {  // DeepSeek-V3 pre-training: its own run (H800) and Megatron-Bridge's (H100)
      ++deepseek;
      CHECK(c["model"]["catalog"].as<std::string>() == "deepseek-v3");
      const auto p = c["plan"];
      // EP groups carved out of a pipeline stage's tp x cp x dp ranks
      CHECK(p["tp"].as<int>() * p["cp"].as<int>() * p["dp"].as<int>() % p["ep"].as<int>() == 0);
      if (ref == "D1") {
        // tokens/s/GPU derived from the table's step time and the report's batch; MFU is TFLOPS / BF16 peak.
        CHECK(c["global_batch"].as<double>() * c["model"]["seq_len"].as<double>() / measured["step_s"].as<double>() / gpus ==
              Approx(measured["tokens_per_s_per_gpu"].as<double>()).epsilon(0.001));
        CHECK(measured["tflops_per_gpu"].as<double>() / 989.4 == Approx(measured["mfu"].as<double>()).epsilon(0.002));
        CHECK(c["settings"]["training"].IsMap());
      } else {
        // TP2 with EP64: the experts fold over TP, which needs sequence parallelism (Megatron-Core too).
        CHECK(p["tp"].as<int>() > 1);
        CHECK(c["settings"]["training"]["parallel"]["sp"].as<bool>());
        CHECK_FALSE(c["unsupported"]);
      }
    }
    if (ref == "M1") {
      ++mpt;
      CHECK(measured["hfu"].as<double>() >= measured["mfu"].as<double>());  // HFU adds the recompute pass
      CHECK((c["recompute"].as<std::string>() == "full") == (measured["hfu"].as<double>() > measured["mfu"].as<double>()));
    }
  }
  CHECK(megatron == 10);  // Table 1: 1.7B to 1T
  CHECK(mpt == 22);       // MPT 7B/13B/30B/70B rows of the H100 80GB BF16 table
  CHECK(nemo == 9);       // NeMo 24.07 DGX-H100 FP8: GPT3 5B/20B/175B x2, LLAMA2 7B/13B/70B, LLAMA3 8B/70B
  CHECK(deepseek == 2);   // DeepSeek-V3 on 2,048 H800 (D1), on 1,024 H100 (B1)
}
