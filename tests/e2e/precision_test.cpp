// model.precision end to end: KV capacity, step times, the summary and input errors.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>

#include "support.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {
struct Run {
  nlohmann::json summary;
  std::string output;
};

Run run(const test::TempDir& dir, const std::string& tag, const std::string& sets) {
  const auto r = test::run_hetsim("run '" + test::source_dir() + "/scenarios/quickstart.yaml' --out '" + dir.file(tag) +
                                  "' --set workload.num_requests=60 " + sets);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return {nlohmann::json::parse(test::read_file(dir.file(tag + "/summary.json"))), r.output};
}
std::int64_t kv_blocks(const Run& r) { return r.summary["replicas"][0]["kv_blocks_total"].get<std::int64_t>(); }
double tpot_mean(const Run& r) { return r.summary["latency_s"]["tpot"]["mean"].get<double>(); }
}  // namespace

TEST_CASE("precision: FP8 weights with a BF16 KV cache hold more KV blocks than BF16, and fewer than with an FP8 cache",
          "[e2e][precision]") {
  test::TempDir dir("precision");
  const Run bf16 = run(dir, "bf16", "");
  const Run w8 = run(dir, "w8", "--set model.precision=fp8");
  const Run w8kv8 =
      run(dir, "w8kv8", "--set model.precision.weights=fp8 --set model.precision.gemm=fp8 --set model.precision.kv=fp8");
  // Llama-3-8B on an 80 GB H100: FP8 linear layers free ~7 GB for KV; an FP8 cache then doubles
  // the blocks that fit in the same bytes.
  CHECK(kv_blocks(bf16) < kv_blocks(w8));
  CHECK(kv_blocks(w8) < kv_blocks(w8kv8));
  CHECK(std::abs(kv_blocks(w8kv8) - 2 * kv_blocks(w8)) <= 1);
  CHECK(w8kv8.summary["replicas"][0]["kv_blocks_total"] == w8kv8.summary["replicas"][1]["kv_blocks_total"]);
  // Decode streams the weights: halving the linear layers' bytes shortens every token.
  CHECK(tpot_mean(w8) < 0.8 * tpot_mean(bf16));
  CHECK(tpot_mean(w8kv8) <= tpot_mean(w8));

  SECTION("the summary names a mixed precision; a uniform one is not mentioned") {
    CHECK(w8.summary["precision"] == "weights fp8, gemm fp8, activations bf16, kv bf16, comm bf16");
    CHECK_THAT(w8kv8.output, Contains("  precision   weights fp8, gemm fp8, activations bf16, kv fp8, comm bf16\n"));
    CHECK_FALSE(bf16.summary.contains("precision"));
    CHECK_THAT(bf16.output, !Contains("  precision "));
    const auto schema = nlohmann::json::parse(test::read_file(dir.file("w8/metrics_schema.json")));
    const auto& features = schema["features"];
    CHECK(std::find(features.begin(), features.end(), "mixed_precision") != features.end());
    // resolved.yaml spells the five dtypes out and runs as-is to the same result.
    const std::string resolved = test::read_file(dir.file("w8/resolved.yaml"));
    CHECK_THAT(resolved, Contains("precision:") && Contains("weights: fp8") && Contains("kv: bf16"));
    const auto again =
        test::run_hetsim("run '" + dir.file("w8/resolved.yaml") + "' --quiet --out '" + dir.file("again") + "'");
    INFO(again.output);
    REQUIRE(again.exit_code == 0);
    CHECK(test::read_file(dir.file("again/requests.csv")) == test::read_file(dir.file("w8/requests.csv")));
  }
}

TEST_CASE("precision: bad input exits 2 with the key path", "[e2e][precision]") {
  const std::string quickstart = "'" + test::source_dir() + "/scenarios/quickstart.yaml'";
  SECTION("an unknown dtype") {
    const auto r = test::run_hetsim("validate " + quickstart + " --set model.precision.kv=fp4");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains("model.precision.kv = fp4: expected one of bf16, fp16, fp32, fp8, int8"));
  }
  SECTION("an unknown kind") {
    const auto r = test::run_hetsim("validate " + quickstart + " --set model.precision.activation=fp8");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains("model.precision.activation") && Contains("did you mean 'activations'"));
  }
  SECTION("a GEMM dtype the device has no peak for") {
    const auto r =
        test::run_hetsim("validate " + quickstart + " --set cluster.device=a100-sxm4-80gb --set model.precision=fp8");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains("model.precision.gemm = fp8: device a100-sxm4-80gb has no fp8 peak") &&
                             Contains("expected a dtype it has: fp32, tf32, bf16, fp16, int8"));
    // Weight-only FP8 (W8A16, FP8 Marlin on Ampere) runs its GEMMs in bf16 and is fine.
    const auto ok = test::run_hetsim("validate " + quickstart +
                                     " --set cluster.device=a100-sxm4-80gb --set model.precision.weights=fp8");
    INFO(ok.output);
    CHECK(ok.exit_code == 0);
  }
}

TEST_CASE("precision: hetsim list shows a catalog entry's precision when one is mixed", "[e2e][precision]") {
  // A data root with the real catalogs plus an FP8 checkpoint of Llama-3-8B.
  test::TempDir root("precision_list");
  std::filesystem::create_directories(root.file("models"));
  std::filesystem::create_directory_symlink(test::source_dir() + "/hw", root.file("hw"));
  std::filesystem::copy(test::source_dir() + "/models/catalog", root.file("models/catalog"));
  std::string entry = test::read_file(test::source_dir() + "/models/catalog/llama-3-8b.yaml");
  const auto at = entry.find("torch_dtype: bfloat16");
  REQUIRE(at != std::string::npos);
  entry.replace(at, std::string("torch_dtype: bfloat16").size(), "torch_dtype: fp8");
  root.write("models/catalog/llama-3-8b-fp8.yaml", entry);
  const auto r = test::run_command("HETSIM_HOME='" + root.str() + "' '" + HETSIM_BIN + "' list");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("max context    precision"));
  CHECK_THAT(r.output, Contains("weights fp8, gemm fp8, activations bf16, kv bf16, comm bf16"));
  CHECK_THAT(r.output, Contains("8192 tokens    bf16"));  // llama-3-8b
  // The shipped catalog is all 16-bit: no precision column.
  const auto plain = test::run_hetsim("list");
  CHECK_THAT(plain.output, !Contains("precision"));
}

TEST_CASE("precision: a 4-bit KV cache holds 3.2x the blocks of a BF16 one, an 8-bit one 1.6x the FP8 ones' bytes",
          "[e2e][precision]") {
  test::TempDir dir("precision_kvq");
  const Run bf16 = run(dir, "bf16", "");
  const Run q4 = run(dir, "q4", "--set model.precision.kv_quant.bits=4");
  const Run fp8 = run(dir, "fp8", "--set model.precision.kv=fp8");
  // Bytes per element: 2 (BF16), 1 (FP8), 0.5 + 4 / 32 (INT4 with a scale and zero point per 32).
  CHECK(std::abs(static_cast<double>(kv_blocks(q4)) - 3.2 * static_cast<double>(kv_blocks(bf16))) <= 4);
  CHECK(std::abs(static_cast<double>(kv_blocks(q4)) - 1.6 * static_cast<double>(kv_blocks(fp8))) <= 2);
  CHECK_THAT(q4.output, Contains("kv quantized to 4 bits in groups of 32"));
}
