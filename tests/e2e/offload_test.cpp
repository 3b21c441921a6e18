// Attention offload end to end: the KV cache moves to the offload side (capacity from its memory),
// offload pays on a memory-starved GPU at high load and not at low load (NEO's direction), `impl:
// none` is the run without the key, runs are deterministic, and bad plans exit 2 naming the key.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {

std::string neo_scenario() { return test::source_dir() + "/scenarios/neo_cpu_attention.yaml"; }

nlohmann::json run(const std::string& args, const test::TempDir& dir, const std::string& out) {
  const auto r = test::run_hetsim("run --quiet " + args + " --out '" + dir.file(out) + "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(test::read_file(dir.file(out + "/summary.json")));
}
double output_tps(const nlohmann::json& s) { return s["throughput"]["output_tokens_per_s"].get<double>(); }
std::int64_t kv_blocks(const nlohmann::json& s) { return s["memory"][0]["kv_blocks"].get<std::int64_t>(); }

}  // namespace

TEST_CASE("offload: NEO on an A10G holds the KV in host DRAM and pays at high load, not at low load", "[e2e][offload]") {
  test::TempDir dir("offload_neo");
  const std::string off = "--set cluster.offload.impl=none";
  const auto neo_high = run("'" + neo_scenario() + "'", dir, "neo_high");
  const auto gpu_high = run("'" + neo_scenario() + "' " + off, dir, "gpu_high");
  // 512 GB of host DRAM x 0.9 instead of what 15 GiB of weights leave of the A10G's 22.2 GiB.
  CHECK(neo_high["memory"][0]["kv_device"].get<std::string>() == "1 x xeon-8480plus (offload) and the GPUs");
  CHECK(neo_high["memory"][0]["kv_also_on_gpus"].get<bool>());
  CHECK(kv_blocks(neo_high) > 50 * kv_blocks(gpu_high));
  CHECK(neo_high["preemptions"].get<std::int64_t>() == 0);
  CHECK(gpu_high["preemptions"].get<std::int64_t>() > 0);
  CHECK(output_tps(neo_high) > 1.3 * output_tps(gpu_high));
  CHECK(neo_high["offload"]["device_seconds"].get<double>() > 0);
  CHECK(neo_high["offload"]["link_bytes"].get<double>() > 0);
  // At 16 clients the GPU's own KV holds the batch: NEO keeps it there and runs as the GPU alone
  // (within 1%); putting all the KV on the CPU (gpu_kv: false) costs its slower attention and the PCIe hops.
  const auto neo_low = run("'" + neo_scenario() + "' --set workload.concurrency=16", dir, "neo_low");
  const auto gpu_low = run("'" + neo_scenario() + "' --set workload.concurrency=16 " + off, dir, "gpu_low");
  const auto cpu_low = run("'" + neo_scenario() + "' --set workload.concurrency=16 --set cluster.offload.gpu_kv=false", dir, "cpu_low");
  CHECK(output_tps(neo_low) == Approx(output_tps(gpu_low)).epsilon(0.01));
  CHECK(output_tps(cpu_low) < 0.95 * output_tps(gpu_low));
  CHECK_FALSE(cpu_low["memory"][0].contains("kv_also_on_gpus"));  // all the KV on the host
  // Tokens are conserved either way.
  CHECK(neo_high["requests"]["completed"] == gpu_high["requests"]["completed"]);
}

TEST_CASE("offload: impl none is the run without the key, and offloaded runs are deterministic", "[e2e][offload]") {
  test::TempDir dir("offload_none");
  const std::string without = dir.write("without.yaml", R"(
model: llama-3.1-8b
cluster: {device: a10g-24gb, replicas: 1}
workload: {source: synthetic, concurrency: 8, think_time: 0 s, num_requests: 60, prompt_tokens: 512, output_tokens: 64}
)");
  const std::string none = dir.write("none.yaml", R"(
model: llama-3.1-8b
cluster: {device: a10g-24gb, replicas: 1, offload: {impl: none, count: 3}}
workload: {source: synthetic, concurrency: 8, think_time: 0 s, num_requests: 60, prompt_tokens: 512, output_tokens: 64}
)");
  run("'" + without + "'", dir, "a");
  run("'" + none + "'", dir, "b");
  CHECK(test::read_file(dir.file("a/requests.csv")) == test::read_file(dir.file("b/requests.csv")));
  const std::string lamina = test::source_dir() + "/scenarios/lamina_attention_pool.yaml";
  const std::string small = " --set workload.num_requests=200 --set output.steps=full";
  run("'" + lamina + "'" + small, dir, "l1");
  run("'" + lamina + "'" + small, dir, "l2");
  CHECK(test::read_file(dir.file("l1/requests.csv")) == test::read_file(dir.file("l2/requests.csv")));
  CHECK(test::read_file(dir.file("l1/steps.csv")) == test::read_file(dir.file("l2/steps.csv")));
  CHECK(test::read_file(dir.file("l1/steps.csv")).find("offload_s") != std::string::npos);
}

TEST_CASE("offload: plans that cannot run exit 2 naming the key", "[e2e][offload]") {
  test::TempDir dir("offload_bad");
  auto fails = [&](const std::string& name, const std::string& yaml) {
    const auto r = test::run_hetsim("run --quiet '" + dir.write(name + ".yaml", yaml) + "' --out '" + dir.file(name) + "'");
    CHECK(r.exit_code == 2);
    return r.output;
  };
  // Llama-3-70B's 131 GiB of weights do not fit one H100 even with the KV elsewhere.
  CHECK_THAT(fails("big", R"(
model: llama-3-70b
cluster: {device: h100-sxm5-80gb, offload: {impl: lamina}}
workload: {source: synthetic, num_requests: 2}
)"),
             Contains("cluster.offload") && Contains("weights"));
  // HBM-PIM has no BF16 peak.
  CHECK_THAT(fails("pim_bf16", R"(
model: llama-3.1-8b
cluster: {device: h100-sxm5-80gb, offload: {impl: pim}}
workload: {source: synthetic, num_requests: 2}
)"),
             Contains("bf16") && Contains("samsung-hbm-pim"));
  CHECK_THAT(fails("spec", R"(
model: llama-3.1-8b
cluster: {device: h100-sxm5-80gb, offload: {impl: neo}}
policies: {speculative: {impl: eagle, k: 3}}
workload: {source: synthetic, num_requests: 2}
)"),
             Contains("cluster.offload") && Contains("speculative"));
  CHECK_THAT(fails("mla", R"(
model: deepseek-v3
cluster: {device: h200-sxm-141gb, tensor_parallel: 8, offload: {impl: lamina}}
workload: {source: synthetic, num_requests: 2}
)"),
             Contains("MLA"));
  // The CSD's engine runs decode attention only; prefill attention stays on the GPU.
  CHECK_THAT(fails("csd_prefill", R"(
model: {preset: llama-2-13b, precision: fp16}
cluster: {device: rtx-a6000-48gb, offload: {impl: instinfer, ops: [attention_decode, attention_prefill]}}
workload: {source: synthetic, num_requests: 2}
)"),
             Contains("cluster.offload.ops") && Contains("instinfer-csd") && Contains("attention_prefill"));
  // A drive runs nothing: attention cannot be placed on it, and it cannot host a replica.
  CHECK_THAT(fails("ssd_ops", R"(
model: {preset: llama-2-13b, precision: fp16}
cluster: {device: rtx-a6000-48gb, offload: {impl: flexgen, ops: [attention_decode]}}
workload: {source: synthetic, num_requests: 2}
)"),
             Contains("samsung-980pro-2tb") && Contains("storage") && Contains("cannot run"));
  CHECK_THAT(fails("ssd_replica", R"(
model: llama-3.2-1b
cluster: {device: samsung-980pro-2tb}
workload: {source: synthetic, num_requests: 2}
)"),
             Contains("cluster.device") && Contains("cannot host a serving replica"));
  CHECK_THAT(fails("sparse_range", R"(
model: {preset: llama-2-13b, precision: fp16}
cluster: {device: rtx-a6000-48gb, offload: {impl: instinfer, sparse_attention: {kv_read: 1.5}}}
workload: {source: synthetic, num_requests: 2}
)"),
             Contains("cluster.offload.sparse_attention.kv_read") && Contains("1.5"));
}

TEST_CASE("offload: in-storage attention beats streaming the KV out of an SSD, and scales with drives", "[e2e][offload][csd]") {
  test::TempDir dir("offload_csd");
  const std::string sc = "'" + test::source_dir() + "/scenarios/instinfer_csd_attention.yaml' --set workload.num_requests=64";
  const auto csd = run(sc, dir, "csd");
  const auto ssd = run(sc + " --set cluster.offload.impl=flexgen", dir, "ssd");
  const auto csd2 = run(sc + " --set cluster.offload.count=2", dir, "csd2");
  const auto sparse = run(sc + " --set cluster.offload.sparse_attention.kv_read=0.5", dir, "sparse");
  // Both keep the whole KV in 2 TB of flash: no preemptions at 64 clients of 4,096 tokens.
  CHECK(csd["memory"][0]["kv_device"].get<std::string>() == "1 x instinfer-csd (offload)");
  CHECK(ssd["memory"][0]["kv_device"].get<std::string>() == "1 x samsung-980pro-2tb (offload)");
  CHECK(csd["preemptions"].get<std::int64_t>() == 0);
  // The drive's engine reads the KV at 68% of 11.2 GB/s inside it; FlexGen at the SSD's 7 GB/s link.
  CHECK(output_tps(csd) > output_tps(ssd));
  CHECK(output_tps(csd) < 7.62 / 7.0 * output_tps(ssd) * 1.05);
  // FlexGen's link carries the whole KV back every step; the CSD's only queries, new K/V and outputs.
  CHECK(ssd["offload"]["link_bytes"].get<double>() > 100 * csd["offload"]["link_bytes"].get<double>());
  CHECK(ssd["offload"]["device_seconds"].get<double>() == 0);  // the drive computes nothing
  // Decode is bound by the flash: two drives (heads split over them) and half the reads each nearly double it.
  CHECK(output_tps(csd2) == Approx(2 * output_tps(csd)).epsilon(0.05));
  CHECK(output_tps(sparse) == Approx(2 * output_tps(csd)).epsilon(0.05));
}

TEST_CASE("offload: Logic-PIM in the GPUs' HBM (Duplex) beats the GPUs alone on an MoE model", "[e2e][offload][duplex]") {
  test::TempDir dir("offload_duplex");
  const std::string sc = "'" + test::source_dir() + "/scenarios/duplex_pim_moe.yaml' --set workload.num_requests=96";
  const auto duplex = run(sc, dir, "duplex");
  const auto gpus = run(sc + " --set cluster.offload.impl=none", dir, "gpus");
  const auto co = run(sc + " --set cluster.offload.experts=co_process", dir, "co");
  const auto attention = run(sc + " --set cluster.offload.experts=gpu", dir, "attention");
  // The KV cache stays in the GPUs' memory: the same blocks as without the PIM, and no link traffic.
  CHECK_FALSE(duplex["memory"][0].contains("kv_device"));
  CHECK(kv_blocks(duplex) == kv_blocks(gpus));
  CHECK(duplex["offload"]["link_bytes"].get<double>() == 0);
  CHECK(duplex["offload"]["device_seconds"].get<double>() > 0);
  // Decode attention and experts at 4x the HBM bandwidth: faster than the GPUs, and attention alone
  // gives part of it; co-processing the experts is never slower.
  CHECK(output_tps(attention) > output_tps(gpus));
  CHECK(output_tps(duplex) > output_tps(attention));
  CHECK(output_tps(co) >= output_tps(duplex));
  CHECK(duplex["requests"]["completed"] == gpus["requests"]["completed"]);
  // Experts on PIM are modelled for tensor-parallel experts only.
  const auto r = test::run_hetsim("run --quiet " + sc + " --set cluster.expert_parallel=true --out '" + dir.file("ep") + "'");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("cluster.offload") && Contains("expert_parallel"));
}

TEST_CASE("flash streaming: a phone generates faster with sparse reads, bundling and windowing, each", "[e2e][flash]") {
  test::TempDir dir("flash_phone");
  const std::string file = "'" + test::source_dir() + "/scenarios/phone_llm_in_a_flash.yaml'";
  auto tpot = [&](const std::string& sets, const std::string& out) {
    const auto s = run(file + " " + sets, dir, out);
    return s["latency_s"]["tpot"]["p50"].get<double>();
  };
  const double both = tpot("", "both");
  const double no_window = tpot("--set serving.flash.window=0", "no_window");
  const double no_bundling = tpot("--set serving.flash.bundling=false", "no_bundling");
  const double neither = tpot("--set serving.flash.window=0 --set serving.flash.bundling=false", "neither");
  const double naive = run("'" + test::source_dir() + "/scenarios/phone_flash_llama2_7b.yaml'", dir, "naive")["latency_s"]["tpot"]["p50"].get<double>();
  CHECK(both < no_window);
  CHECK(both < no_bundling);
  CHECK(no_window < neither);
  CHECK(no_bundling < neither);
  CHECK(neither < naive);
  // PowerInfer-2's hot-neuron cache: the more of the activations the cached neurons take, the faster.
  const std::string hot = " --set serving.flash.hot_cache.neurons=0.2 --set serving.flash.hot_cache.activations=";
  const double hot_50 = tpot(hot + "0.5", "hot_50");
  const double hot_80 = tpot(hot + "0.8", "hot_80");
  CHECK(hot_50 < both);
  CHECK(hot_80 < hot_50);
  const auto bad = test::run_hetsim("validate " + file + hot + "0.1");
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.output, Contains("serving.flash.hot_cache.activations") && Contains("0.1"));
  // flash streaming reads from storage: without it, the key is an error.
  const auto r = test::run_hetsim("validate " + file + " --set serving.weights=device_memory");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("serving.flash") && Contains("weights: storage"));
}

TEST_CASE("engine split: HeteroInfer's GPU + NPU beats either engine alone in prefill and decode, and a slow sync costs",
          "[e2e][split]") {
  test::TempDir dir("heteroinfer");
  const std::string file = "'" + test::source_dir() + "/scenarios/phone_heteroinfer_llama3_8b.yaml'";
  struct Latency {
    double ttft, tpot;
  };
  auto latency = [&](const std::string& sets, const std::string& out) {
    const auto s = run(file + " " + sets, dir, out);
    return Latency{s["latency_s"]["ttft"]["p50"].get<double>(), s["latency_s"]["tpot"]["p50"].get<double>()};
  };
  const Latency both = latency("", "both");
  const Latency gpu = latency("--set cluster.device.split=null", "gpu");
  const Latency npu = latency("--set cluster.device.split=null --set cluster.device.engine=npu", "npu");
  const Latency slow = latency("--set cluster.device.split.sync=400us", "slow_sync");
  const Latency half = latency("--set cluster.device.split.share=0.5", "half");
  // Decode is memory-bound: two engines stream more of the shared memory than the GPU alone.
  CHECK(both.tpot < 0.9 * gpu.tpot);
  CHECK(gpu.tpot < npu.tpot);
  // Prefill is compute-bound: the NPU carries it, the GPU adds a share.
  CHECK(both.ttft < npu.ttft);
  CHECK(npu.ttft < 0.5 * gpu.ttft);
  // A clFinish-style sync per GEMM eats most of the decode gain; a fixed 1:1 split loses to auto.
  CHECK(slow.tpot > both.tpot);
  CHECK(half.tpot > both.tpot);
  CHECK(half.ttft > both.ttft);
  const auto bad = test::run_hetsim("validate " + file + " --set cluster.device.split.with=gpu");
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.output, Contains("cluster.device.split.with") && Contains("gpu"));
}

TEST_CASE("layer split: llama.cpp's -ngl sweep speeds up layer by layer, then jumps with the output layer", "[e2e][layers]") {
  test::TempDir dir("layer_split");
  const std::string file = "'" + test::source_dir() + "/scenarios/desktop_llamacpp_layer_offload.yaml'";
  auto tpot = [&](const nlohmann::json& s) { return s["latency_s"]["tpot"]["p50"].get<double>(); };
  std::vector<double> sweep;
  for (int n : {0, 16, 32, 40, 48}) sweep.push_back(tpot(run(file + fmt::format(" --set cluster.offload.gpu_layers={}", n), dir, fmt::format("ngl{}", n))));
  for (std::size_t i = 1; i < sweep.size(); ++i) CHECK(sweep[i] < sweep[i - 1]);
  // All 48 layers take the output layer with them by default (-ngl 99); llama.cpp's -ngl 48 leaves it on
  // the host, where its 0.64 GB of Q6_K cost more than the 48 layers on the GPU.
  const auto all = run(file + " --set cluster.offload.gpu_layers=48 --set cluster.offload.output_on_gpu=true", dir, "ngl99");
  CHECK(tpot(all) == sweep.back());
  const auto host_output = run(file + " --set cluster.offload.gpu_layers=48 --set cluster.offload.output_on_gpu=false", dir, "ngl48");
  CHECK(tpot(host_output) > 2 * tpot(all));
  // Every request completes with its tokens, and a run is reproducible to the byte.
  CHECK(all["requests"]["completed"].get<std::int64_t>() == 4);
  const auto again = run(file + " --set cluster.offload.gpu_layers=48 --set cluster.offload.output_on_gpu=true", dir, "ngl99_again");
  CHECK(test::read_file(dir.file("ngl99/requests.csv")) == test::read_file(dir.file("ngl99_again/requests.csv")));
  CHECK(again["offload"]["link_bytes"].get<double>() > 0);
  // The host's memory caps the KV its layers hold: with room for ~3,300 tokens of 8 layers' KV
  // (4.7 GiB of host weights + 0.1 GiB), the cache shrinks from the GPU's to the host's.
  const auto roomy = run(file, dir, "roomy");
  const auto tight = run(file + " --set cluster.offload.kv_memory=4.8GiB", dir, "tight");
  const auto blocks = [](const nlohmann::json& s) { return s["memory"][0]["kv_blocks"].get<std::int64_t>(); };
  CHECK(blocks(tight) < blocks(roomy) / 5);
  CHECK(blocks(tight) > 0);
  // Plans that do not fit exit 2 naming the key: 48 layers on an 8 GiB card, the host's layers in 2 GiB.
  const auto small_gpu = test::run_hetsim("validate " + file + " --set cluster.offload.gpu_layers=48 --set cluster.device.memory.usable=8GiB");
  CHECK(small_gpu.exit_code == 2);
  CHECK_THAT(small_gpu.output, Contains("cluster.offload.gpu_layers") && Contains("lower gpu_layers"));
  const auto small_host = test::run_hetsim("validate " + file + " --set cluster.offload.kv_memory=2GiB");
  CHECK(small_host.exit_code == 2);
  CHECK_THAT(small_host.output, Contains("cluster.offload.gpu_layers") && Contains("core-i7-8700"));
}

TEST_CASE("layer split: an MoE model too large for the GPU runs faster with its experts on the host than with a layer split",
          "[e2e][layers]") {
  test::TempDir dir("moe_experts");
  const std::string file = "'" + test::source_dir() + "/scenarios/desktop_llamacpp_moe_experts.yaml'";
  auto tpot = [&](const std::string& sets, const std::string& out) {
    return run(file + " " + sets, dir, out)["latency_s"]["tpot"]["p50"].get<double>();
  };
  // Qwen3-30B-A3B Q4_K_M (18.6 GB) on a 16 GB card: the most layers that fit, against every layer on
  // the GPU with the first 10 layers' experts on the host (llama.cpp's --n-cpu-moe 10).
  const double layers = tpot("--set cluster.offload.host_experts=0 --set cluster.offload.gpu_layers=40", "ngl40");
  const double experts = tpot("--set cluster.offload.host_experts=10", "ncm10");
  const double all_experts = tpot("--set cluster.offload.host_experts=48", "ncm48");
  const double cpu = tpot("--set cluster.offload.host_experts=0 --set cluster.offload.gpu_layers=0", "cpu");
  CHECK(experts < 0.7 * layers);
  // Each layer's experts moved to the host cost time; all of them still beat the CPU alone.
  CHECK(experts < all_experts);
  CHECK(all_experts < cpu);
  // Fewer host experts do not fit: the key names what to change.
  const auto tight = test::run_hetsim("validate " + file + " --set cluster.offload.host_experts=4");
  CHECK(tight.exit_code == 2);
  CHECK_THAT(tight.output, Contains("cluster.offload.gpu_layers") && Contains("16.14 GiB"));
}

TEST_CASE("layer split: stream_at auto copies the host experts to the GPU only for prompts long enough to pay",
          "[e2e][layers]") {
  test::TempDir dir("moe_streaming");
  const std::string file = "'" + test::source_dir() + "/scenarios/desktop_llamacpp_moe_experts.yaml'";
  const auto prefill = [&](int prompt, const std::string& stream_at) {
    const auto s = run(fmt::format("{} --set workload.prompt_tokens={} --set workload.output_tokens=1 "
                                   "--set cluster.offload.stream_at={}", file, prompt, stream_at),
                       dir, fmt::format("p{}_{}", prompt, stream_at));
    // -1: no streamed_bytes key (stream_at 0 never streams, so the run does not report it).
    return std::pair{s["latency_s"]["ttft"]["p50"].get<double>(), s["offload"].value("streamed_bytes", -1.0)};
  };
  // 64 tokens: 8 of 128 experts each, 4 tokens an expert; llama.cpp's fixed 32 copies every host
  // expert (GBs over PCIe 3.0 x8), the cost-based choice keeps them on the CPU.
  const auto [short_fixed, short_fixed_bytes] = prefill(64, "32");
  const auto [short_auto, short_auto_bytes] = prefill(64, "auto");
  const auto [short_cpu, short_cpu_bytes] = prefill(64, "0");
  CHECK(short_fixed_bytes > 1e9);
  CHECK(short_auto_bytes == 0);
  CHECK(short_cpu_bytes == -1);
  CHECK(short_auto == short_cpu);
  CHECK(short_auto < 0.5 * short_fixed);
  // 2,048 tokens: copying pays, and auto streams as the threshold does.
  const auto [long_fixed, long_fixed_bytes] = prefill(2048, "32");
  const auto [long_auto, long_auto_bytes] = prefill(2048, "auto");
  const auto [long_cpu, long_cpu_bytes] = prefill(2048, "0");
  CHECK(long_auto_bytes == long_fixed_bytes);
  CHECK(long_auto == long_fixed);
  CHECK(long_auto < 0.5 * long_cpu);
  CHECK(long_cpu_bytes == -1);
}
