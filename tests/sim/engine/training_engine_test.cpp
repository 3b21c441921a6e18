// The training engine against analytic results: the pipeline bubble of 1F1B and interleaved 1F1B
// with uniform stages and free communication, a data-parallel all-reduce on an idle fabric against
// its alpha-beta time, one GPU without communication (the iteration is the priced passes, MFU the
// cost model's compute fraction), and the lower bound every plan respects.
// One run per TEST_CASE: SimGrid allows one engine per process (ctest runs each case alone).
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "sim/core/config.hpp"
#include "sim/engine/training_engine.hpp"
#include "sim/scenario/run_description.hpp"
#include "sim/scenario/training_scenario.hpp"
#include "sim/engine/one_gpu_nodes.hpp"
#include "sim/training/pipeline_timing.hpp"

using namespace hetsim;

namespace {

sim::TrainingScenario load(const std::string& yaml) {
  const auto doc = config::Document::load_string(yaml, "training_test.yaml");
  return sim::load_training_scenario(doc);
}

/// A node of `gpus` H100 slots whose links are effectively free (1,000,000 TB/s, no latency), so
/// pipeline sends cost nothing and only the schedule shapes the iteration.
std::string free_node(int gpus) {
  std::string tiers, links;
  for (int i = 0; i < gpus; ++i) {
    tiers += fmt::format("      - {{name: gpu{}.hbm, kind: hbm, capacity: 80 GB, bandwidth: 1000000 TB/s}}\n", i);
    links += fmt::format("      - {{name: l{}, kind: nvlink, between: [gpu{}.hbm, sw], bandwidth: 1000000 TB/s}}\n", i, i);
  }
  return fmt::format("    name: free\n    tiers:\n{}    switches: [sw]\n    links:\n{}", tiers, links);
}

/// Llama-3-8B-shaped layers with a tiny vocabulary, so that embedding and LM head add almost
/// nothing and every stage costs the same.
constexpr const char* kUniformModel = R"(
model: {preset: llama-3-8b, name: uniform-8b, vocab_size: 8}
)";

double sum_times(const sim::RankTimes& t) { return t.total(); }

/// `m` micro-batches of the uniform model through `p` pipeline ranks of a free node, one
/// iteration, under the schedule `schedule` (the policies.pipeline_schedule map's contents).
sim::TrainingScenario uniform_pipeline(int p, int m, const std::string& schedule) {
  return load(fmt::format(R"({}
cluster:
  device: h100-sxm5-80gb
  node:
{}
training: {{seq_len: 2048, global_batch: {}, micro_batch: 1, parallel: {{pp: {}}}, iterations: 1}}
policies: {{pipeline_schedule: {{{}}}}}
)",
                          kUniformModel, free_node(p), m, p, schedule));
}

}  // namespace

TEST_CASE("training engine: 1F1B bubble is (p-1)/m of the compute with uniform stages and free communication",
          "[training][engine]") {
  const int p = 4, m = 8;
  const auto sc = uniform_pipeline(p, m, "impl: 1f1b");
  const auto rec = sim::run_training(sc);
  REQUIRE(rec.ranks.size() == static_cast<std::size_t>(p));
  const double pass = sc.stages[1].forward.seconds + sc.stages[1].backward().seconds;
  for (const auto& r : rec.ranks) {
    INFO("stage " << r.pp);
    // Every stage computes m forward+backward passes and waits (p-1) passes' worth: before its
    // first forward and after its last backward.
    const double waited = r.times.pp_bubble + r.times.pp_comm + r.times.idle;
    CHECK(waited / (r.times.compute + r.times.tp_comm) == Approx(static_cast<double>(p - 1) / m).epsilon(0.01));
    CHECK(r.times.pp_comm < 1e-6 * pass);
    CHECK(r.peak_in_flight == std::min(m, p - r.pp));  // 1F1B holds at most p - s micro-batches
  }
  REQUIRE(rec.iterations.size() == 1);
  CHECK(rec.iterations[0].end == Approx((m + p - 1) * pass + sc.stages[0].optimizer).epsilon(0.01));
}

TEST_CASE("training engine: interleaving cuts the bubble to (p-1)/(v m)", "[training][engine]") {
  const int p = 4, m = 8, v = 2;
  const auto sc = uniform_pipeline(p, m, fmt::format("impl: interleaved_1f1b, virtual_stages: {}", v));
  const auto rec = sim::run_training(sc);
  for (const auto& r : rec.ranks) {
    INFO("stage " << r.pp);
    const double waited = r.times.pp_bubble + r.times.pp_comm + r.times.idle;
    CHECK(waited / (r.times.compute + r.times.tp_comm) == Approx(static_cast<double>(p - 1) / (v * m)).epsilon(0.02));
  }
}

TEST_CASE("training engine: dualpipe_v runs its V as the schedule's replay times it, the turn staying on the last rank",
          "[training][engine]") {
  // Uniform chunks (32 layers in 2p = 8 stages of 4), free links: the iteration is the schedule
  // replayed with the chunk's F, B and W (sim/training/pipeline_timing), whatever the V's sends.
  const int p = 4, m = 8;
  const auto sc = uniform_pipeline(p, m, "impl: dualpipe_v");
  REQUIRE(sc.job.pipeline().v_shape);
  REQUIRE(sc.stages.size() == static_cast<std::size_t>(2 * p));
  const auto& chunk = sc.stages[1];
  const training::PassDurations d{chunk.forward.seconds, chunk.backward_input.seconds, chunk.backward_weight.seconds};
  const auto replayed = training::replay(sc.job.pipeline(), sc.schedule->order(sc.job.pipeline()), d);
  const auto rec = sim::run_training(sc);
  REQUIRE(rec.iterations.size() == 1);
  CHECK(rec.iterations[0].end == Approx(replayed.makespan + sc.stages[0].optimizer + sc.stages[2 * p - 1].optimizer).epsilon(0.01));
  for (const auto& r : rec.ranks) {
    INFO("rank " << r.pp);
    CHECK(r.peak_in_flight == 2 * p + 1);  // DualPipe's PP + 1 chunks
    CHECK(r.times.pp_comm < 1e-6 * chunk.forward.seconds);
  }
  // Rank 0 holds the first and the last model stage: the embedding and the head are its memory.
  CHECK(sc.memory.at(0).activations > sc.memory.at(1).activations);
}

TEST_CASE("training engine: dualpipe runs both directions as the schedule's replay times them, two copies per rank",
          "[training][engine]") {
  // Uniform stages (32 layers over p = 4 of 8), free links: the iteration is the schedule replayed
  // with a stage's F, B and W, then each rank's optimizer over its two stages (the copies' gradient
  // exchange over free links costs nothing).
  const int p = 4, m = 8;
  const auto sc = uniform_pipeline(p, m, "impl: dualpipe");
  REQUIRE(sc.job.pipeline().bidirectional);
  REQUIRE(sc.stages.size() == static_cast<std::size_t>(p));
  const auto& stage = sc.stages[1];
  const training::PassDurations d{stage.forward.seconds, stage.backward_input.seconds, stage.backward_weight.seconds};
  const auto replayed = training::replay(sc.job.pipeline(), sc.schedule->order(sc.job.pipeline()), d);
  // Each rank holds two model stages: rank s the weights of 1F1B's ranks s and p-1-s together, and
  // both end ranks an embedding and a head.
  const auto one = uniform_pipeline(p, m, "impl: 1f1b");
  for (int s = 0; s < p; ++s) {
    INFO("rank " << s);
    CHECK(sc.memory.at(s).weights == Approx(one.memory.at(s).weights + one.memory.at(p - 1 - s).weights).epsilon(1e-12));
  }
  // The copies hold the same weights, so ZeRO-1 shards the optimizer states over both of them.
  REQUIRE(sc.job.plan.weight_replicas() == 2);
  const auto sharded = load(fmt::format(R"({}
cluster:
  device: h100-sxm5-80gb
  node:
{}
training: {{seq_len: 2048, global_batch: {}, micro_batch: 1, parallel: {{pp: {}}}, zero: 1, iterations: 1}}
policies: {{pipeline_schedule: {{impl: dualpipe}}}}
)",
                                        kUniformModel, free_node(p), m, p));
  for (int s = 0; s < p; ++s)
    CHECK(sharded.memory.at(s).optimizer_states() == Approx(sc.memory.at(s).optimizer_states() / 2).epsilon(1e-12));
  const auto rec = sim::run_training(sc);
  REQUIRE(rec.iterations.size() == 1);
  CHECK(rec.iterations[0].end == Approx(replayed.makespan + sc.stages[0].optimizer + sc.stages[p - 1].optimizer).epsilon(0.01));
  for (const auto& r : rec.ranks) {
    INFO("rank " << r.pp);
    CHECK(r.peak_in_flight == p + 1);  // DualPipe's PP + 1
    CHECK(r.times.pp_comm < 1e-6 * stage.forward.seconds);
  }
}

TEST_CASE("training memory: the LM head's activations are held as often as its chunk's replay peak, not an even share",
          "[training][memory]") {
  // Interleaved 1F1B, p 4, v 2, m 8: the last rank holds 5 micro-batch chunks at its peak, but the
  // head's chunk (the last model stage) only 1: the logits of one micro-batch, whatever the vocabulary.
  const int p = 4, m = 8;
  const std::string schedule = "impl: interleaved_1f1b, virtual_stages: 2";
  const auto small = uniform_pipeline(p, m, schedule);
  auto big_yaml = fmt::format(R"(
model: {{preset: llama-3-8b, name: big-vocab-8b, vocab_size: 128256}}
cluster:
  device: h100-sxm5-80gb
  node:
{}
training: {{seq_len: 2048, global_batch: {}, micro_batch: 1, parallel: {{pp: {}}}, iterations: 1}}
policies: {{pipeline_schedule: {{{}}}}}
)", free_node(p), m, p, schedule);
  const auto big = load(big_yaml);
  REQUIRE(big.memory.at(p - 1).held_chunks == 5);
  training::MemoryInputs in(big.model);
  const double logits = training::lm_head_activation_bytes(in.layer, 128256, 2048, 1, big.job.plan) -
                        training::lm_head_activation_bytes(in.layer, 8, 2048, 1, big.job.plan);
  CHECK(big.memory.at(p - 1).activations - small.memory.at(p - 1).activations == Approx(logits).epsilon(1e-9));
}

TEST_CASE("training engine: a data-parallel all-reduce on an idle fabric takes its alpha-beta time", "[training][engine]") {
  // Two nodes of one H100 each, one NIC each on one rail: the ring's two flows go opposite ways on
  // split-duplex links, so nothing contends. Overlap off: the reduction starts after the backward.
  const auto sc = load(std::string(test::kOneGpuNodes) + R"(
model: {preset: llama-3-8b, name: llama-3-8b-4-layers, num_hidden_layers: 4}   # fits one GPU with Adam
training:
  seq_len: 2048
  global_batch: 2
  parallel: {dp: 2}
  overlap: {grad_reduce: false}
  iterations: 1
output: {timeline: true}
)");
  const auto rec = sim::run_training(sc, {.timeline = sc.timeline});
  const sim::TimelineSpan* reduce = nullptr;
  for (const auto& s : rec.timeline)
    if (s.name == "grad_reduce") reduce = &s;
  REQUIRE(reduce != nullptr);
  // k = 2: 2(k-1) = 2 steps of alpha (NIC -> NIC on one rail: 2 x 1 us) and 2(k-1)/k x N bytes at 400 Gb/s.
  const double alpha = 2 * test::kOneGpuNodesAlpha, bw = test::kOneGpuNodesBandwidth, n = sc.stages[0].grad_bytes;
  CHECK(reduce->end - reduce->start == Approx(2 * alpha + n / bw).epsilon(1e-9));
  // The rank waited exactly that long after its backward.
  CHECK(rec.ranks[0].times.dp_comm == Approx(2 * alpha + n / bw).epsilon(1e-9));
}

TEST_CASE("training engine: dualpipe reduces the two copies of each stage with each other", "[training][engine]") {
  // Two one-GPU nodes, pp 2 without data parallelism: rank 0 holds stage 0 (down) and stage 1 (up),
  // rank 1 the other copies. After the last backward each stage's copies all-reduce their
  // gradients over a ring of the two nodes; the two rings start together (the ranks mirror each
  // other) and share the NICs, so the rank waits 2 alpha + (N0 + N1) / bandwidth. 1F1B has nothing
  // to reduce here.
  const auto sc = load(std::string(test::kOneGpuNodes) + R"(
model: {preset: llama-3-8b, name: llama-3-8b-4-layers, num_hidden_layers: 4}
training:
  seq_len: 2048
  global_batch: 4
  parallel: {pp: 2}
  overlap: {grad_reduce: false}
  iterations: 1
policies: {pipeline_schedule: {impl: dualpipe}}
output: {timeline: true}
)");
  const auto rec = sim::run_training(sc, {.timeline = sc.timeline});
  int reductions = 0;
  for (const auto& s : rec.timeline) reductions += s.name == "grad_reduce";
  CHECK(reductions == 2);  // one per model stage, each over both copies
  const double alpha = 2 * test::kOneGpuNodesAlpha, bw = test::kOneGpuNodesBandwidth;
  const double n = sc.stages[0].grad_bytes + sc.stages[1].grad_bytes;
  REQUIRE(rec.ranks.size() == 2);
  for (const auto& r : rec.ranks) CHECK(r.times.dp_comm == Approx(2 * alpha + n / bw).epsilon(1e-9));
}

TEST_CASE("training engine: one GPU without communication runs its priced passes, MFU is the compute fraction",
          "[training][engine]") {
  const int m = 4;
  const auto sc = load(fmt::format(R"(
model: {{preset: llama-3-8b, name: llama-3-8b-4-layers, num_hidden_layers: 4}}   # fits one GPU with Adam
cluster: {{device: h100-sxm5-80gb}}
training: {{seq_len: 4096, global_batch: {}, micro_batch: 1, iterations: 2}}
)",
                                   m));
  const auto rec = sim::run_training(sc);
  const auto& st = sc.stages.at(0);
  const double step = m * (st.forward.seconds + st.backward().seconds) + st.optimizer;
  REQUIRE(rec.iterations.size() == 2);
  for (const auto& it : rec.iterations) CHECK(it.end - it.start == Approx(step).epsilon(1e-12));
  const auto info = sim::describe_training_run(sc);
  const auto summary = sim::summarize(info, rec);
  CHECK(summary.mfu == Approx(info.model_flops_per_iteration / (step * sc.device->peak(DType::bf16))).epsilon(1e-12));
  // Nothing waits: the time is compute (and the optimizer).
  const auto& t = rec.ranks[0].times;
  CHECK(t.pp_bubble + t.pp_comm + t.dp_comm + t.idle == 0.0);
  CHECK(sum_times(t) == Approx(2 * step).epsilon(1e-12));
}

TEST_CASE("training engine: no rank group beats the plan's lower bound and its time adds up", "[training][engine]") {
  const auto sc = load(R"(
model: llama-3-70b
cluster:
  device: h100-sxm5-80gb
  node: hgx-h100
  fabric: {kind: rail, uplink_bandwidth: 3.2 Tbps, latency: 1 us}
training:
  seq_len: 4096
  global_batch: 32
  parallel: {tp: 4, pp: 4, dp: 4, sp: true}
  zero: 1
  recompute: selective
  iterations: 2
policies: {pipeline_schedule: {impl: interleaved_1f1b, virtual_stages: 2}}
)");
  const auto rec = sim::run_training(sc);
  const double iterations_span = rec.iterations.back().end;
  const int m = static_cast<int>(sc.job.microbatches());
  for (const auto& r : rec.ranks) {
    INFO("stage " << r.pp << " dp " << r.dp);
    double compute = 0;
    for (int c = 0; c < sc.job.plan.virtual_stages; ++c) {
      const auto& st = sc.stages[static_cast<std::size_t>(c * sc.job.plan.pp + r.pp)];
      compute += m * (st.forward.seconds + st.backward().seconds) + st.optimizer;
    }
    // Each group's time splits exactly into its kinds, and it cannot run faster than its passes.
    CHECK(r.times.total() == Approx(iterations_span).epsilon(1e-9));
    CHECK(iterations_span / rec.iterations.size() >= compute * (1 - 1e-12));
  }
}

TEST_CASE("training engine: data-parallel rings over packed nodes spread over every NIC, as NCCL's channels do",
          "[training][engine]") {
  // 16 replicas of one GPU each on two HGX H100 nodes (8 per node): a reduce-scatter ring packed in
  // nodes crosses each node boundary once; with one channel per GPU of a node, each of the eight
  // NICs carries 1/8 of the cross-node bytes, and NVLink carries the rest inside the nodes.
  const auto sc = load(R"(
model: {preset: llama-3-8b, name: llama-3-8b-4-layers, num_hidden_layers: 4}
cluster:
  device: h100-sxm5-80gb
  node: hgx-h100
  fabric: {kind: rail, uplink_bandwidth: 25.6 Tbps, latency: 1 us}
training:
  seq_len: 2048
  global_batch: 16
  parallel: {dp: 16}
  zero: 1
  overlap: {grad_reduce: false, param_gather: false}
  iterations: 1
output: {timeline: true}
)");
  const auto rec = sim::run_training(sc, {.timeline = true});
  const sim::TimelineSpan* reduce = nullptr;
  for (const auto& s : rec.timeline)
    if (s.name == "grad_reduce") reduce = &s;
  REQUIRE(reduce != nullptr);
  const double n = sc.stages[0].grad_bytes, k = 16, channels = 8, nic = 400e9 / 8;
  // Each channel's cross-node hop moves (k-1)/k x N / channels over one NIC (NIC c-1 of one node to
  // NIC c of the other, across the spine: 2 x 1 us NIC + 2 x 1 us uplink latency); the 2(k-1) - 1
  // further steps pay the slowest hop's latency again.
  const double alpha = 4e-6;
  const double expected = (k - 1) / k * n / channels / nic + alpha + (k - 2) * alpha;
  CHECK(reduce->end - reduce->start == Approx(expected).epsilon(0.02));
  // One ring through a single NIC per node would take eight times the bandwidth term.
  CHECK(reduce->end - reduce->start < 0.25 * (k - 1) / k * n / nic);
}

TEST_CASE("training engine: a slow GPU paces its stage, and the pipeline waits for it", "[training][engine][stragglers]") {
  const int p = 2, m = 4;
  const auto sc = load(fmt::format(R"({}
cluster:
  device: h100-sxm5-80gb
  node:
{}
training:
  seq_len: 2048
  global_batch: {}
  parallel: {{pp: {}}}
  iterations: 1
  stragglers: {{slow: [{{rank: 1, factor: 1.5}}]}}
policies: {{pipeline_schedule: {{impl: 1f1b}}}}
)",
                                   kUniformModel, free_node(p), m, p));
  const auto rec = sim::run_training(sc);
  REQUIRE(rec.ranks.size() == 2);
  CHECK(rec.ranks[1].times.compute == Approx(1.5 * rec.ranks[0].times.compute).epsilon(0.01));
  CHECK(rec.ranks[1].flops == Approx(rec.ranks[0].flops).epsilon(0.01));  // slower, not more work
  // The slow stage runs all m forwards and backwards at 1.5x, and stage 0 waits for it.
  const double pass = sc.stages[1].forward.seconds + sc.stages[1].backward().seconds;
  CHECK(rec.iterations[0].end >= m * 1.5 * pass);
  CHECK(rec.ranks[0].times.pp_bubble > (p - 1) * pass);
}

TEST_CASE("training engine: per-pass jitter has mean 1 and varies the passes", "[training][engine][stragglers]") {
  const int m = 64;
  const auto sc = load(fmt::format(R"(
model: {{preset: llama-3-8b, name: llama-3-8b-4-layers, num_hidden_layers: 4}}
cluster: {{device: h100-sxm5-80gb}}
training: {{seq_len: 1024, global_batch: {}, iterations: 2, stragglers: {{jitter: 0.2}}}}
output: {{timeline: true}}
)",
                                   m));
  const auto rec = sim::run_training(sc, {.timeline = true});
  const auto& st = sc.stages.at(0);
  const double priced = m * (st.forward.seconds + st.backward().seconds) + st.optimizer;
  REQUIRE(rec.iterations.size() == 2);
  const double a = rec.iterations[0].end - rec.iterations[0].start, b = rec.iterations[1].end - rec.iterations[1].start;
  CHECK(a != b);
  // 129 lognormal factors of CV 0.2 per iteration: the sum within 6% (over 3 standard deviations).
  CHECK(a == Approx(priced).epsilon(0.06));
  CHECK(b == Approx(priced).epsilon(0.06));
  double shortest = 1e30, longest = 0;
  for (const auto& span : rec.timeline)
    if (span.name == "forward") {
      shortest = std::min(shortest, span.end - span.start);
      longest = std::max(longest, span.end - span.start);
    }
  CHECK(longest > 1.2 * shortest);
}

TEST_CASE("training engine: packed documents scale each pass's attention by its micro-batch's share, per replica",
          "[training][documents]") {
  // Documents of exactly 512 tokens fill each 2048-token sequence four times over: each sequence's
  // causal attention is 4 x 512 x 513 / (2048 x 2049) of one sequence-long document's.
  const auto sc = load(R"(
model: {preset: llama-3-8b, name: uniform-8b-4-layers, vocab_size: 8, num_hidden_layers: 4}
cluster: {device: h100-sxm5-80gb, node: hgx-h100}
training: {seq_len: 2048, global_batch: 4, parallel: {dp: 2}, iterations: 2,
           documents: {lengths: {dist: fixed, value: 512}}}
)");
  const double share = 4.0 * 512 * 513 / (2048.0 * 2049);
  const auto& st = sc.stages.at(0);
  REQUIRE(st.forward.attention > 0);
  const double full = st.forward.seconds + st.backward().seconds;
  const double packed = st.forward.with_attention(share).seconds + st.backward().with_attention(share).seconds;
  CHECK(packed == Approx(full - (st.forward.attention + st.backward().attention) * (1 - share)));
  const auto rec = sim::run_training(sc);
  CHECK(rec.attention_share_mean == Approx(share));
  CHECK(rec.attention_share_min == Approx(share));
  CHECK(rec.attention_share_max == Approx(share));
  // Every replica ran 2 micro-batches per iteration for 2 iterations at the packed cost.
  for (const auto& r : rec.ranks) CHECK(r.times.compute + r.times.tp_comm == Approx(4 * packed).epsilon(1e-9));
}

TEST_CASE("training engine: replicas packing documents of random lengths compute unequally and wait for each other",
          "[training][documents]") {
  const auto sc = load(R"(
model: {preset: llama-3-8b, name: uniform-8b-4-layers, vocab_size: 8, num_hidden_layers: 4}
cluster: {device: h100-sxm5-80gb, node: hgx-h100}
training: {seq_len: 8192, global_batch: 8, parallel: {dp: 4}, iterations: 2,
           documents: {lengths: {dist: lognormal, median: 1024, sigma: 1.5, min: 16, max: 16384}}}
)");
  const auto rec = sim::run_training(sc);
  double lo = 1e30, hi = 0;
  for (const auto& r : rec.ranks) {
    lo = std::min(lo, r.times.compute);
    hi = std::max(hi, r.times.compute);
  }
  CHECK(hi > 1.01 * lo);  // length imbalance: some replicas drew more long documents
  // The replica with the least attention work waits the longest for the gradient reduction.
  const auto fastest = std::min_element(rec.ranks.begin(), rec.ranks.end(),
                                        [](const auto& a, const auto& b) { return a.times.compute < b.times.compute; });
  for (const auto& r : rec.ranks) CHECK(fastest->times.dp_comm + fastest->times.idle >= r.times.dp_comm + r.times.idle - 1e-9);
  CHECK(rec.attention_share_min < rec.attention_share_mean);
  CHECK(rec.attention_share_mean < rec.attention_share_max);
}
