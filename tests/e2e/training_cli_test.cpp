// Training scenarios through the CLI: every shipped scenarios/train_*.yaml runs and writes its
// results; runs are deterministic to the byte; bad training input is one clear error (exit 2)
// naming the key path, before anything runs.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {
std::vector<std::string> shipped_training_scenarios() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(test::source_dir() + "/scenarios"))
    if (e.path().filename().string().starts_with("train_") && e.path().extension() == ".yaml") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

constexpr const char* kSmallJob = R"(
model: llama-3-8b
cluster: {device: h100-sxm5-80gb, node: hgx-h100}
training:
  seq_len: 2048
  global_batch: 16
  parallel: {tp: 2, pp: 2, dp: 2}
  zero: 1
  iterations: 2
policies: {pipeline_schedule: {impl: 1f1b}}
output: {timeline: true}
)";
}  // namespace

TEST_CASE("training cli: every shipped training scenario runs and writes its results", "[e2e][training]") {
  const auto files = shipped_training_scenarios();
  REQUIRE(files.size() >= 2);
  for (const auto& file : files) {
    INFO(file);
    test::TempDir dir("train_shipped");
    const auto r = test::run_hetsim(fmt::format("run --quiet '{}' --out '{}' --set training.iterations=2", file, dir.str()));
    REQUIRE(r.exit_code == 0);
    for (const char* name : {"iterations.csv", "ranks.csv", "summary.json", "resolved.yaml"})
      CHECK(std::filesystem::exists(dir.file(name)));
    const auto its = test::read_csv(dir.file("iterations.csv"));
    REQUIRE(its.size() == 2);
    const auto summary = nlohmann::json::parse(test::read_file(dir.file("summary.json")));
    const double mfu = summary["training"]["mfu"].get<double>();
    CHECK(mfu > 0.05);
    CHECK(mfu < 1.0);
    // Tokens per second is the batch's tokens over the step time.
    const double tokens = summary["batch"]["seq_len"].get<double>() * summary["batch"]["global_batch"].get<double>();
    CHECK(summary["training"]["tokens_per_s"].get<double>() ==
          Approx(tokens / summary["training"]["step_time_s"].get<double>()).epsilon(1e-12));
    // The resolved configuration is itself a valid scenario.
    const auto again = test::run_hetsim(fmt::format("validate '{}'", dir.file("resolved.yaml")));
    INFO(again.output);
    CHECK(again.exit_code == 0);
  }
}

TEST_CASE("training cli: same scenario and seed give identical bytes", "[e2e][training]") {
  test::TempDir dir("train_det");
  const auto file = dir.write("job.yaml", kSmallJob);
  for (const char* out : {"a", "b"})
    REQUIRE(test::run_hetsim(fmt::format("run --quiet '{}' --out '{}'", file, dir.file(out))).exit_code == 0);
  for (const char* name : {"iterations.csv", "ranks.csv", "summary.json", "timeline.json", "memory.csv"}) {
    INFO(name);
    const auto a = test::read_file(dir.file(std::string("a/") + name));
    CHECK(!a.empty());
    CHECK(a == test::read_file(dir.file(std::string("b/") + name)));
  }
  // The timeline has a process per rank group: 2 stages x 2 replicas.
  const auto trace = nlohmann::json::parse(test::read_file(dir.file("a/timeline.json")));
  int processes = 0;
  for (const auto& e : trace["traceEvents"])
    if (e["ph"] == "M" && e["name"] == "process_name") ++processes;
  CHECK(processes == 4);
}

TEST_CASE("training cli: bad training input is one error naming the key, exit 2", "[e2e][training]") {
  test::TempDir dir("train_bad");
  const auto file = dir.write("job.yaml", kSmallJob);
  struct Case {
    std::string set, expect;
  };
  const Case cases[] = {
      {"training.global_batch=15", "training.global_batch"},
      {"training.parallel.tp=3", "training.parallel.tp"},
      {"training.parallel.sp=true --set training.parallel.tp=1", "training.parallel.sp"},
      {"training.zero=4", "training.zero"},
      {"training.recompute=some", "training.recompute"},
      {"training.recompute_layers=4", "training.recompute_layers"},  // without recompute: full
      {"training.recompute=full --set training.recompute_layers=-1", "training.recompute_layers"},
      {"training.simulate_replicas=some", "training.simulate_replicas"},
      // Megatron-Core's recompute modules, DeepSeek's FP8 cache and BF16 moments, DeepEP, EP overlap.
      {"training.recompute=selective --set training.recompute_modules=[attn]", "unknown recompute module 'attn'"},
      {"training.recompute=selective --set training.recompute_modules=[]", "training.recompute_modules"},
      {"training.recompute_modules=[layernorm]", "goes with recompute: selective"},
      {"training.recompute=selective --set training.recompute_modules=[mla_up_proj]", "has no MLA"},
      {"training.recompute=selective --set training.recompute_modules=[moe_act]", "has none"},
      {"training.fp8_activation_cache=true", "model.precision.gemm: fp8"},
      {"training.optimizer_moments=fp16", "training.optimizer_moments"},
      {"training.moe_dispatcher=deepep", "training.moe_dispatcher"},  // no expert parallelism
      {"training.overlap.ep_comm=true", "training.overlap.ep_comm"},
      {"policies.optimizer_offload.impl=zero_offload --set training.optimizer_moments=bf16", "training.optimizer_moments"},
      {"training.layers_per_stage=[10,10]", "training.layers_per_stage"},
      {"policies.pipeline_schedule.impl=2f2b", "policies.pipeline_schedule.impl"},
      // DualPipe: an even number of micro-batches, at least 2 x pp; no ZeRO-3 across its copies.
      {"policies.pipeline_schedule.impl=dualpipe --set training.global_batch=4", "at least 2 x stages = 4"},
      {"policies.pipeline_schedule.impl=dualpipe --set training.zero=3", "expected training.zero <= 2"},
      {"training.seq_len=0", "training.seq_len"},
      {"training.parallel.dp=8 --set training.global_batch=64", "cluster"},  // 32 GPUs on one node without a fabric
      {"training.sequence_length=4096", "training.sequence_length"},
      {"training.parallel.dp=40000 --set training.global_batch=40000 --set training.simulate_replicas=all", "rank groups"},
      {"training.global_batch=4000000000", "passes per iteration"},
      {"training.parallel.tp=1024", "training.parallel.tp"},
      // Expert parallelism: only for MoE models, over a divisor of a stage's tp x cp x dp ranks, with
      // sequence parallelism when it folds over tp, ZeRO up to 2, no optimizer offload.
      {"training.parallel.ep=2", "no routed experts"},
      {"model=mixtral-8x7b --set training.zero=0 --set training.parallel.sp=true --set training.parallel.ep=8",
       "expected a divisor of tp x cp x dp (4)"},
      {"model=mixtral-8x7b --set training.zero=0 --set training.parallel.ep=2", "needs sp: true"},
      {"model=mixtral-8x7b --set training.parallel.tp=1 --set training.parallel.ep=2 --set training.zero=3", "training.zero"},
      // Expert tensor parallelism: with ep > 1, etp x ep dividing a stage's ranks and the expert
      // width, and the plain all-to-all dispatcher; without, etp is tp's.
      {"model=mixtral-8x7b --set training.parallel.etp=1", "expected etp equal to tp (2)"},
      {"model=mixtral-8x7b --set training.parallel.sp=true --set training.parallel.ep=2 --set training.parallel.etp=0",
       "training.parallel.etp"},
      {"model=mixtral-8x7b --set training.parallel.sp=true --set training.parallel.ep=2 --set training.parallel.etp=4",
       "expected ep x etp (2 x 4) to divide tp x cp x dp (4)"},
      {"model=mixtral-8x7b --set training.parallel.sp=true --set training.parallel.dp=6 --set training.global_batch=24 "
       "--set training.parallel.ep=4 --set training.parallel.etp=3", "expert width (14336)"},
      {"model=mixtral-8x7b --set training.parallel.sp=true --set training.parallel.ep=2 --set training.parallel.etp=2 "
       "--set training.moe_dispatcher=deepep", "DeepEP dispatches to whole experts"},
      {"model=mixtral-8x7b --set training.parallel.tp=1 --set training.parallel.ep=2 "
       "--set policies.optimizer_offload.impl=zero_offload", "with expert parallelism"},
      // Checkpoints and failures.
      {"policies.checkpoint.impl=save", "unknown checkpoint policy"},
      {"policies.checkpoint.impl=sync --set training.iterations=1", "training.iterations >= 2"},
      {"policies.checkpoint.impl=sync --set policies.checkpoint.every=0", "policies.checkpoint.every"},
      {"policies.checkpoint.impl=sync --set policies.checkpoint.target=tape", "policies.checkpoint.target"},
      {"policies.checkpoint.impl=sync --set policies.checkpoint.target=storage", "cluster.storage"},
      {"policies.checkpoint.impl=in_memory", "peer node"},
      {"cluster.storage.node=nvme-storage-server", "cluster.fabric"},
      {"policies.failures.impl=exponential --set policies.failures.rates=llama3-405b", "policies.checkpoint too"},
      {"policies.checkpoint.impl=sync --set policies.failures.impl=exponential --set policies.failures.rates=llama3-405b",
       "training.train_tokens"},
      {"policies.checkpoint.impl=sync --set training.train_tokens=1e9 --set policies.failures.impl=weibull "
       "--set policies.failures.rates=llama3-405b", "shape"},
      {"policies.checkpoint.impl=sync --set training.train_tokens=1e9 --set policies.failures.impl=exponential "
       "--set policies.failures.rates=llama3-405b --set training.recovery.spare_nodes=-3", "training.recovery.spare_nodes"},
      {"training.recovery.restart=5min", "policies.failures too"},
      // Stragglers.
      {"training.stragglers.jitter=-1", "training.stragglers.jitter"},
      {"'training.stragglers.slow=[{rank: 99, factor: 2}]'", "slow rank 99"},
      {"'training.stragglers.slow=[{rank: 1, factor: 0.5}]'", "factor"},
      {"training.simulate_replicas=one --set training.stragglers.jitter=0.1", "simulate_replicas: all"},
      {"training.simulate_replicas=one --set 'training.stragglers.slow=[{rank: 2, factor: 2}]'", "replica 1"},
      // Packed documents.
      {"training.simulate_replicas=one --set training.documents.lengths=512", "simulate_replicas: all"},
      {"'training.documents.lengths={dist: weird}'", "training.documents.lengths"},
      // Sequence sharding.
      {"policies.sequence_sharding.impl=ring", "unknown sequence sharding policy"},
      {"policies.sequence_sharding.impl=hybrid_dp", "policies.sequence_sharding.impl"},  // without documents
      {"policies.sequence_sharding.impl=static_cp --set policies.sequence_sharding.balance=false",
       "policies.sequence_sharding.balance"},
      {"model=mixtral-8x7b --set training.zero=0 --set training.parallel.tp=1 --set training.parallel.ep=2 "
       "--set training.documents.lengths=512 --set policies.sequence_sharding.impl=hybrid_dp", "expert parallelism"},
      // Optimizer offload.
      {"policies.optimizer_offload.impl=swap", "unknown optimizer offload policy"},
      {"policies.optimizer_offload.impl=zero_offload --set training.zero=0", "set training.zero >= 1"},
      {"policies.optimizer_offload.impl=zero_offload --set policies.optimizer_offload.placement=random",
       "policies.optimizer_offload.placement"},
      {"policies.optimizer_offload.impl=zero_offload --set policies.optimizer_offload.dram_limit=10TB",
       "policies.optimizer_offload.dram_limit"},
      {"policies.optimizer_offload.impl=zero_offload --set policies.optimizer_offload.dram_limit=100GB",
       "and the node has no CXL memory"},
      {"policies.optimizer_offload.impl=zero_offload --set policies.optimizer_offload.dram_limit=1GB", "pinned DRAM buffers"},
      {"policies.optimizer_offload.impl=zero_offload --set policies.optimizer_offload.cpu=h100-sxm5-80gb",
       "policies.optimizer_offload.cpu"},
      {"policies.optimizer_offload.impl=zero_infinity --set cluster.node=dgx-a100", "no SSD tier"},
      {"policies.optimizer_offload.impl=deep_optimizer_states --set policies.optimizer_offload.gpu_fraction=2",
       "policies.optimizer_offload.gpu_fraction"},
      {"policies.optimizer_offload.impl=zero_offload --set policies.optimizer_offload.params=host",
       "policies.optimizer_offload.params"},  // ZeRO-1: parameter offload needs ZeRO-3
      {"policies.optimizer_offload.impl=zero_offload --set policies.optimizer_offload.params=disk",
       "policies.optimizer_offload.params"},
      // Activation swapping.
      {"policies.activation_offload.impl=paging", "unknown activation offload policy"},
      {"policies.activation_offload.impl=memo --set training.recompute=full", "training.recompute"},
      {"policies.activation_offload.impl=memo --set policies.activation_offload.fraction=1.5",
       "policies.activation_offload.fraction"},
      {"policies.activation_offload.impl=memo --set policies.activation_offload.host_limit=10TB",
       "policies.activation_offload.host_limit"},
      {"policies.activation_offload.impl=memo --set policies.activation_offload.host_limit=1MB",
       "the activations that always go to host"},
      {"policies.activation_offload.impl=memo --set policies.activation_offload.host_limit=1GB "
       "--set policies.activation_offload.fraction=1", "a smaller fraction"},
  };
  for (const auto& c : cases) {
    INFO(c.set);
    const auto r = test::run_hetsim(fmt::format("run --quiet '{}' --out '{}' --set {}", file, dir.file("out"), c.set));
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains(c.expect));
    CHECK_FALSE(std::filesystem::exists(dir.file("out")));
  }
  // Without a node, one default node holds the job only up to 8 GPUs.
  const auto big = dir.write("no_node.yaml", R"(
model: llama-3-8b
cluster: {device: h100-sxm5-80gb}
training: {seq_len: 2048, global_batch: 16, parallel: {tp: 2, pp: 2, dp: 4}}
)");
  const auto r = test::run_hetsim(fmt::format("validate '{}'", big));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("give cluster.node"));
  const auto ok = test::run_hetsim(fmt::format("validate '{}'", file));
  CHECK(ok.exit_code == 0);
  CHECK_THAT(ok.output, Contains("OK"));
}

TEST_CASE("training cli: a plan that does not fit names the rank, its peak and the breakdown, exit 2", "[e2e][training]") {
  test::TempDir dir("train_fit");
  const auto file = dir.write("job.yaml", std::string(kSmallJob) + "\n");
  // Llama-3-8B on 8 GPUs: fits with ZeRO-1 at 2k tokens; 32k-token sequences without recompute do not.
  const auto r = test::run_hetsim(fmt::format("run --quiet '{}' --out '{}' --set training.seq_len=8192 --set "
                                              "model.max_position_embeddings=32768 --set training.seq_len=32768",
                                              file, dir.file("out")));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("training: the plan does not fit: rank (pipeline stage 0)"));
  CHECK_THAT(r.output, Contains("GiB peak >"));
  CHECK_THAT(r.output, Contains("activations"));
  CHECK_FALSE(std::filesystem::exists(dir.file("out")));
  // The run that fits reports each stage's memory, and the peak in summary.json.
  REQUIRE(test::run_hetsim(fmt::format("run --quiet '{}' --out '{}'", file, dir.file("ok"))).exit_code == 0);
  const auto ranks = test::read_csv(dir.file("ok/ranks.csv"));
  REQUIRE(ranks.size() == 4);
  double peak = 0;
  for (const auto& row : ranks) {
    const double total = std::stod(row.at("mem_total_gib"));
    const double parts = std::stod(row.at("mem_weights_gib")) + std::stod(row.at("mem_gradients_gib")) +
                         std::stod(row.at("mem_optimizer_gib")) + std::stod(row.at("mem_activations_gib")) +
                         std::stod(row.at("mem_buffers_gib")) + std::stod(row.at("mem_reserve_gib"));
    CHECK(total == Approx(parts).epsilon(1e-5));
    peak = std::max(peak, total);
  }
  const auto summary = nlohmann::json::parse(test::read_file(dir.file("ok/summary.json")));
  CHECK(summary["training"]["peak_memory_gib"].get<double>() == Approx(peak).epsilon(1e-5));
  // The first stage holds the most micro-batches under 1F1B (p - s), so it peaks.
  CHECK(summary["training"]["peak_memory_stage"].get<int>() == 0);
}

TEST_CASE("training cli: a plan that fits only with an optimizer offload is reported as such", "[e2e][training]") {
  test::TempDir dir("train_offload_fit");
  // Llama-3-8B on 2 GPUs with ZeRO-1: bf16 weights, fp32 gradients and half the states exceed 80 GB.
  const auto file = dir.write("job.yaml", std::string(kSmallJob) + "\n");
  const std::string plan = "--set training.parallel.tp=1 --set training.parallel.pp=1 --set training.global_batch=4";
  const auto without = test::run_hetsim(fmt::format("run --quiet '{}' --out '{}' {}", file, dir.file("no"), plan));
  CHECK(without.exit_code == 2);
  CHECK_THAT(without.output, Contains("an optimizer offload (policies.optimizer_offload)"));
  const auto with = test::run_hetsim(fmt::format("run '{}' --out '{}' {} --set policies.optimizer_offload.impl=zero_offload",
                                                 file, dir.file("ok"), plan));
  REQUIRE(with.exit_code == 0);
  CHECK_THAT(with.output, Contains("fits only with the offload"));
  const auto summary = nlohmann::json::parse(test::read_file(dir.file("ok/summary.json")));
  const auto& o = summary["training"]["offload"];
  CHECK(o["needed_to_fit"].get<bool>());
  CHECK(o["peak_memory_without_gib"].get<double>() > summary["training"]["device_memory_gib"].get<double>());
  CHECK(summary["training"]["peak_memory_gib"].get<double>() < summary["training"]["device_memory_gib"].get<double>());
  // Master weights and both moments of half the 8.03 B parameters (ZeRO-1 over 2) sit in host memory.
  CHECK(o["states_per_gpu_gib"].get<double>() == Approx(12 * 8.03e9 / 2 / (1 << 30)).epsilon(0.01));
  CHECK(o["host_gib"].get<double>() == Approx(2 * 16 * 8.03e9 / 2 / (1 << 30)).epsilon(0.01));
  CHECK(o["step_s"].get<double>() > o["cpu_update_s"].get<double>());
  const auto ranks = test::read_csv(dir.file("ok/ranks.csv"));
  REQUIRE(ranks.size() == 2);
  CHECK(std::stod(ranks[0].at("mem_optimizer_gib")) == 0);  // no optimizer state left on the GPU
  // The timeline has the offload stream with its copies and the CPU update.
  const auto timeline = test::read_file(dir.file("ok/timeline.json"));
  CHECK_THAT(timeline, Contains("\"offload\""));
  CHECK_THAT(timeline, Contains("gradients_to_host"));
  CHECK_THAT(timeline, Contains("cpu_adam"));
  // A plan that fits anyway says so.
  const auto roomy = test::run_hetsim(fmt::format("run '{}' --out '{}' --set policies.optimizer_offload.impl=zero_offload",
                                                  file, dir.file("roomy")));
  REQUIRE(roomy.exit_code == 0);
  CHECK_THAT(roomy.output, Contains("fits without it too"));
}

TEST_CASE("training cli: dynamic data x context parallelism beats static CP on short documents, balanced beats "
          "unbalanced",
          "[e2e][training][sharding]") {
  // The shipped ByteScale scenario: the same documents under static CP, hybrid_dp without and with
  // the balance scheduler.
  test::TempDir dir("train_sharding");
  const std::string file = std::string(HETSIM_SOURCE_DIR) + "/scenarios/train_llama3_8b_512k_bytescale_128xh100.yaml";
  int runs = 0;
  const auto run = [&](const std::string& set) {
    const std::string out = dir.file(fmt::format("out{}", runs++));
    const auto r = test::run_hetsim(fmt::format("run --quiet '{}' --out '{}' {}", file, out, set));
    REQUIRE(r.exit_code == 0);
    return nlohmann::json::parse(test::read_file(out + "/summary.json"))["training"];
  };
  const auto fixed = run("--set policies.sequence_sharding.impl=static_cp");
  const auto unbalanced = run("--set policies.sequence_sharding.balance=false");
  const auto balanced = run("");
  const auto step = [](const nlohmann::json& t) { return t["step_time_s"].get<double>(); };
  const auto cp_comm = [](const nlohmann::json& t) { return t["time_per_iteration"]["cp_comm_s"].get<double>(); };
  const auto dp_wait = [](const nlohmann::json& t) { return t["time_per_iteration"]["dp_comm_s"].get<double>(); };
  // Static CP rings every token's K/V over 32 ranks: most of it exposed behind short documents.
  CHECK(cp_comm(fixed) > 10 * cp_comm(balanced));
  CHECK(step(balanced) < step(fixed));
  // Without balancing, ranks with long documents hold up the gradient reduction.
  CHECK(dp_wait(unbalanced) > 2 * dp_wait(balanced));
  CHECK(step(balanced) < step(unbalanced));
  CHECK(balanced["sequence_sharding"]["attention_imbalance"].get<double>() <
        unbalanced["sequence_sharding"]["attention_imbalance"].get<double>());
  // The same documents, cut where static packing cuts them: the same attention work under static
  // CP and balanced hybrid_dp (which splits none further here).
  CHECK(balanced["documents"]["attention_share_mean"].get<double>() ==
        Approx(fixed["documents"]["attention_share_mean"].get<double>()).epsilon(0.01));
}

TEST_CASE("training cli: node groups with slower NICs slow the data-parallel rings placed on them", "[e2e][training]") {
  test::TempDir dir("train_mixed_nic");
  // Llama-3-8B on 4 nodes: 2 with 400 Gb/s NICs, 2 with 100 Gb/s; TP8 PP2 DP2, so each pipeline
  // stage's two replicas span two nodes and reduce their gradients over the NICs.
  const auto file = dir.write("job.yaml", R"(
model: llama-3-8b
cluster:
  device: h100-sxm5-80gb
  node: hgx-h100
  fabric: {kind: rail, uplink_bandwidth: 25.6 Tbps}
  node_groups: [{count: 2}, {count: 2, nic_bandwidth: 100 Gbps, nic_kind: roce}]
training: {seq_len: 4096, global_batch: 16, parallel: {tp: 8, pp: 2, dp: 2, sp: true}, zero: 1, iterations: 2}
)");
  int runs = 0;
  const auto run = [&](const std::string& placement, const std::string& extra = "") {
    const std::string out = dir.file(fmt::format("out{}", runs++));
    const auto r = test::run_hetsim(fmt::format("run --quiet '{}' --out '{}' --set policies.placement.impl={} {}", file, out,
                                                placement, extra));
    REQUIRE(r.exit_code == 0);
    std::vector<double> dp_comm;  // per pipeline stage
    for (const auto& row : test::read_csv(out + "/ranks.csv")) {
      const auto s = static_cast<std::size_t>(std::stoi(row.at("pp")));
      if (dp_comm.size() <= s) dp_comm.resize(s + 1);
      dp_comm[s] = std::max(dp_comm[s], std::stod(row.at("dp_comm_s")));
    }
    const auto summary = nlohmann::json::parse(test::read_file(out + "/summary.json"));
    return std::pair{summary["training"]["step_time_s"].get<double>(), dp_comm};
  };
  // In order: stage 0 on the fast nodes, stage 1 on the slow ones, which wait longer for their rings.
  const auto [in_order, in_order_dp] = run("in_order");
  CHECK(in_order_dp.at(1) > 2 * in_order_dp.at(0));
  // Listed slow-first, in order puts stage 0 on the slow nodes; NIC-aware puts the fast ones first.
  const auto [swapped, swapped_dp] = run("in_order", "--set 'cluster.node_groups=[{count: 2, nic_bandwidth: 100 Gbps}, {count: 2}]'");
  CHECK(swapped_dp.at(0) > 2 * swapped_dp.at(1));
  const auto [aware, aware_dp] = run("nic_aware", "--set 'cluster.node_groups=[{count: 2, nic_bandwidth: 100 Gbps}, {count: 2}]'");
  CHECK(aware_dp.at(1) > 2 * aware_dp.at(0));
  // Round robin: each stage's replicas straddle a fast and a slow node, so every ring runs at the
  // slow NICs' pace and the iteration is no faster than in order.
  const auto [mixed, mixed_dp] = run("round_robin");
  CHECK(mixed_dp.at(0) > 2 * in_order_dp.at(0));
  CHECK(mixed >= in_order);
  // All nodes fast: faster than any mix.
  const auto [fast, fast_dp] = run("in_order", "--set 'cluster.node_groups=[{count: 4}]'");
  CHECK(fast < in_order);
  // Groups must hold exactly the job's nodes; a NIC kind is one of the three.
  for (const auto& [set, expect] : std::vector<std::pair<std::string, std::string>>{
           {"'cluster.node_groups=[{count: 3}]'", "the groups hold 3 nodes; the job needs 4"},
           {"'cluster.node_groups=[{count: 4, nic_kind: myrinet}]'", "nic_kind"},
           {"policies.placement.impl=random", "unknown node placement policy"}}) {
    INFO(set);
    const auto r = test::run_hetsim(fmt::format("run --quiet '{}' --out '{}' --set {}", file, dir.file("bad"), set));
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains(expect));
  }
}

TEST_CASE("training cli: a sweep records plans that do not fit as infeasible and tabulates the rest", "[e2e][training][sweep]") {
  test::TempDir dir("train_sweep");
  dir.write("job.yaml", kSmallJob);
  const auto spec = dir.write("sweep.yaml", R"(
base: job.yaml
axes:
  training.seq_len: [2048, 32768]
set: {model.max_position_embeddings: 32768}
)");
  const auto r = test::run_hetsim(fmt::format("sweep '{}' --out '{}' --quiet -j 1", spec, dir.file("out")));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto rows = test::read_csv(dir.file("out/points.csv"));
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].at("status") == "ok");
  CHECK(std::stod(rows[0].at("train_tokens_per_s")) > 0);
  CHECK(std::stod(rows[0].at("train_mfu")) > 0);
  CHECK(rows[1].at("status") == "infeasible");
  CHECK(rows[1].at("train_tokens_per_s").empty());
  CHECK_THAT(test::read_file(dir.file("out/points/p0001/infeasible.txt")), Contains("the plan does not fit"));
  // A resumed sweep keeps both: nothing runs again.
  const auto again = test::run_hetsim(fmt::format("sweep '{}' --out '{}' -j 1", spec, dir.file("out")));
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.output, Contains("1 of 2 points ok, 1 infeasible"));
}

TEST_CASE("training cli: a sweep's best: names the plan with the most tokens/s among those that fit",
          "[e2e][training][sweep]") {
  test::TempDir dir("train_best");
  dir.write("job.yaml", kSmallJob);
  // Three plans that fit and one that does not (32k tokens without recompute), which would be the
  // fastest per token if it ran: it must never win.
  const auto spec = dir.write("sweep.yaml", R"(
base: job.yaml
mode: zip
axes:
  training.parallel.tp: [2, 4, 1, 2]
  training.parallel.pp: [2, 1, 4, 2]
  training.seq_len: [2048, 2048, 2048, 32768]
set: {model.max_position_embeddings: 32768}
best: {maximize: train_tokens_per_s}
)");
  const auto r = test::run_hetsim(fmt::format("sweep '{}' --out '{}' --quiet -j 1", spec, dir.file("out")));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto rows = test::read_csv(dir.file("out/points.csv"));
  REQUIRE(rows.size() == 4);
  CHECK(rows[3].at("status") == "infeasible");
  std::string argmax;
  double most = -1;
  for (const auto& row : rows)
    if (row.at("status") == "ok" && std::stod(row.at("train_tokens_per_s")) > most) {
      most = std::stod(row.at("train_tokens_per_s"));
      argmax = row.at("point");
    }
  const auto best = nlohmann::json::parse(test::read_file(dir.file("out/best.json")));
  CHECK(best["point"] == argmax);
  CHECK(best["value"].get<double>() == Approx(most).epsilon(1e-9));
  CHECK(best["points"]["ok"] == 3);
  CHECK(best["points"]["infeasible"] == 1);
  CHECK(best["params"]["training.parallel.tp"].get<std::string>() == rows[std::stoul(argmax.substr(1))].at("training.parallel.tp"));
  CHECK_THAT(r.output, Contains("best: " + argmax));
}

TEST_CASE("training cli: a best: objective naming no metric column is one error naming the key, exit 2",
          "[e2e][training][sweep]") {
  test::TempDir dir("train_best_bad");
  dir.write("job.yaml", kSmallJob);
  for (const auto& [body, expect] : {std::pair{"best: {maximize: tokens}", "best.maximize"},
                                     std::pair{"best: {maximize: train_mfu, minimize: train_mfu}", "exactly one of"}}) {
    INFO(body);
    const auto spec = dir.write("sweep.yaml", std::string("base: job.yaml\naxes: {training.seq_len: [2048]}\n") + body + "\n");
    const auto r = test::run_hetsim(fmt::format("sweep '{}' --out '{}' --quiet", spec, dir.file("out")));
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains(expect));
  }
}

TEST_CASE("training cli: memory over time peaks at each stage's reported peak and follows the schedule",
          "[e2e][training]") {
  test::TempDir dir("train_memory_time");
  const auto file = dir.write("job.yaml", kSmallJob);
  REQUIRE(test::run_hetsim(fmt::format("run --quiet '{}' --out '{}'", file, dir.file("out"))).exit_code == 0);
  const auto samples = test::read_csv(dir.file("out/memory.csv"));
  const auto ranks = test::read_csv(dir.file("out/ranks.csv"));
  REQUIRE(!samples.empty());
  std::map<std::string, double> peak_total;
  std::map<std::string, int> peak_held;
  double last = 0;
  for (const auto& m : samples) {
    const double t = std::stod(m.at("time_s"));
    CHECK(t >= last);  // in time order
    last = t;
    const std::string key = m.at("pp") + "/" + m.at("dp");
    peak_total[key] = std::max(peak_total[key], std::stod(m.at("total_gib")));
    peak_held[key] = std::max(peak_held[key], std::stoi(m.at("held_chunks")));
    CHECK(std::stoi(m.at("held_chunks")) >= 0);
  }
  // Every rank group's peak over time is the peak its memory was sized for (ranks.csv), reached
  // when it holds the most micro-batches the schedule ever gives it.
  for (const auto& r : ranks) {
    const std::string key = r.at("pp") + "/" + r.at("dp");
    INFO(key);
    CHECK(peak_held[key] == std::stoi(r.at("peak_in_flight")));
    CHECK(peak_total[key] == Approx(std::stod(r.at("mem_total_gib"))).epsilon(1e-4));
  }
  // 1F1B: the first stage holds p = 2 micro-batches at its peak, the last one.
  CHECK(peak_held["0/0"] == 2);
  CHECK(peak_held["1/0"] == 1);
  // The timeline carries it as a counter track.
  const auto trace = nlohmann::json::parse(test::read_file(dir.file("out/timeline.json")));
  int counters = 0;
  for (const auto& e : trace["traceEvents"])
    if (e["ph"] == "C") ++counters;
  CHECK(counters == static_cast<int>(samples.size()));
}
