// Pipeline schedules (policies/training/pipeline/) replayed with uniform passes and free
// communication (sim/training/pipeline_timing): coverage, completion, bubble and activations held.
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "sim/core/config.hpp"
#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"
#include "sim/training/pipeline_schedule.hpp"
#include "sim/training/pipeline_timing.hpp"

using namespace hetsim;
using namespace hetsim::training;

namespace {

std::unique_ptr<PipelineSchedule> make_schedule(const std::string& yaml) {
  const auto doc = config::Document::load_string(yaml, "schedule.yaml");
  return Registry<PipelineSchedule>::instance().make(doc.root(), "");
}

/// Every (schedule, shape) the tests sweep: p in {1,2,4,8}, m in {1,4,8,16,32}, v in {2,3,4}
/// for interleaved where m % p == 0.
struct Case {
  std::string name;
  std::string yaml;
  PipelineShape shape;
};
std::vector<Case> cases() {
  std::vector<Case> out;
  for (int p : {1, 2, 4, 8})
    for (int m : {1, 4, 8, 16, 32}) {
      for (const char* name : {"gpipe", "1f1b", "zb_h1"})
        out.push_back({name, fmt::format("impl: {}", name), {p, m, 1}});
      if (m >= 2 * p) out.push_back({"dualpipe_v", "impl: dualpipe_v", {p, m, 2, true}});
      if (m % p != 0) continue;
      for (int v : {2, 3, 4})
        out.push_back({"interleaved_1f1b", fmt::format("impl: interleaved_1f1b\nvirtual_stages: {}", v), {p, m, v}});
    }
  return out;
}

std::string describe(const Case& c) {
  return fmt::format("{} p={} m={} v={}", c.name, c.shape.stages, c.shape.microbatches, c.shape.virtual_stages);
}

}  // namespace

TEST_CASE("pipeline dependencies follow the model stages across ranks and chunks", "[pipeline]") {
  const PipelineShape shape{2, 4, 2};  // stages: rank 0 chunk 0 = 0, rank 1 chunk 0 = 1, rank 0 chunk 1 = 2, ...
  CHECK(dependencies(shape, 0, {PassKind::forward, 3, 0}).empty());
  CHECK(dependencies(shape, 0, {PassKind::forward, 3, 1}) == std::vector<RankOp>{{1, {PassKind::forward, 3, 0}}});
  // The last stage (rank 1, chunk 1) turns around: its backward waits only for its own forward.
  CHECK(dependencies(shape, 1, {PassKind::backward, 2, 1}) == std::vector<RankOp>{{1, {PassKind::forward, 2, 1}}});
  CHECK(dependencies(shape, 1, {PassKind::backward_input, 2, 0}) ==
        std::vector<RankOp>{{1, {PassKind::forward, 2, 0}}, {0, {PassKind::backward_input, 2, 1}}});
  CHECK(dependencies(shape, 1, {PassKind::backward_weight, 2, 0}) ==
        std::vector<RankOp>{{1, {PassKind::backward_input, 2, 0}}});
}

TEST_CASE("every pipeline schedule runs each pass once per microbatch and chunk and completes", "[pipeline]") {
  for (const Case& c : cases()) {
    INFO(describe(c));
    const auto schedule = make_schedule(c.yaml);
    REQUIRE_NOTHROW(schedule->check(c.shape));
    const auto order = schedule->order(c.shape);
    REQUIRE(static_cast<int>(order.size()) == c.shape.stages);
    const std::vector<PassKind> kinds =
        schedule->splits_backward()
            ? std::vector<PassKind>{PassKind::forward, PassKind::backward_input, PassKind::backward_weight}
            : std::vector<PassKind>{PassKind::forward, PassKind::backward};
    for (int s = 0; s < c.shape.stages; ++s) {
      INFO("rank " << s);
      std::map<std::tuple<PassKind, int, int>, int> seen;
      for (const auto& op : order[s]) ++seen[{op.kind, op.microbatch, op.chunk}];
      CHECK(order[s].size() == kinds.size() * c.shape.microbatches * c.shape.virtual_stages);
      for (PassKind kind : kinds)
        for (int mb = 0; mb < c.shape.microbatches; ++mb)
          for (int chunk = 0; chunk < c.shape.virtual_stages; ++chunk) CHECK(seen[{kind, mb, chunk}] == 1);
    }
    REQUIRE_NOTHROW(replay(c.shape, order, PassDurations{}));
  }
}

// Uniform passes, free communication. Per (microbatch, chunk) a rank does work F + B + W (fused
// backward = B + W), so ideal = m·v·(F + B + W) and bubble = makespan - ideal.
//  * GPipe and 1F1B: bubble (p-1)(F + B + W): the first forward reaches the last rank after (p-1)F
//    and the last backward needs (p-1)(B + W) to drain back (Narayanan et al. SC'21 §2.2.1), so the
//    fraction is exactly (p-1)/m.
//  * Interleaved: the fill and drain cross p-1 chunks of 1/v the work each: (p-1)/(v·m) (§2.2.2).
//  * ZB-H1 with m >= p and W <= F, B: makespan m(F + B + W) + (p-1)(F + B - W), the bubble Qi et al.
//    state for ZB-H1 (ICLR'24 §3.1): 1F1B's (p-1)(F + B + W) less the 2(p-1)W that the postponed W
//    passes fill. Checked with F = B = W (then a third of 1F1B's bubble) and with unequal passes, so
//    that the formula is not a coincidence of equal durations. With m < p there is no steady phase:
//    rank 0's last B ends at (p + m - 1)(F + B) and only its last W follows it.
TEST_CASE("pipeline bubbles match the published formulas with uniform passes", "[pipeline]") {
  for (const Case& c : cases()) {
    INFO(describe(c));
    const int p = c.shape.stages, m = c.shape.microbatches, v = c.shape.virtual_stages;
    const auto schedule = make_schedule(c.yaml);
    for (const PassDurations d : {PassDurations{1, 1, 1}, PassDurations{2, 2, 1}, PassDurations{1, 2, 1}}) {
      INFO("F=" << d.forward << " B=" << d.backward_input << " W=" << d.backward_weight);
      const double work = d.forward + d.backward_input + d.backward_weight;
      const double ideal = m * v * work;
      const auto timing = replay(c.shape, schedule->order(c.shape), d);
      const double bubble = timing.makespan - ideal;
      if (c.name == "dualpipe_v") {
        // DeepSeek's DualPipe table gives (PP/2 - 1)(F&B + B - 3W) with B the full backward (B + W
        // here) and F&B an overlapped forward-backward pair, at most F + B + W: on p ranks in a V
        // (PP/2 = p), an upper bound. And with chunks of half a stage, under ZB-H1's bubble on the
        // same ranks ((p-1)(F + B - W) per stage, twice that in chunk passes).
        const double full = d.backward_input + d.backward_weight;
        CHECK(bubble <= (p - 1) * (d.forward + full + full - 3 * d.backward_weight));
        CHECK(bubble <= 2 * (p - 1) * (d.forward + d.backward_input - d.backward_weight));
        if (p > 1) CHECK(bubble < 2 * (p - 1) * (d.forward + d.backward_input - d.backward_weight));
        else CHECK(bubble == 0);
      } else if (c.name == "zb_h1") {
        const double expected = m >= p ? (p - 1) * (d.forward + d.backward_input - d.backward_weight)
                                       : (p + m - 1) * (d.forward + d.backward_input) + d.backward_weight - ideal;
        CHECK(bubble == expected);
        if (m >= p && d.forward == d.backward_weight && d.backward_input == d.backward_weight)
          CHECK(bubble * 3 == (p - 1) * work);  // a third of 1F1B's
      } else {
        CHECK(bubble == (p - 1) * work);
        CHECK(bubble / ideal == Approx(static_cast<double>(p - 1) / (v * m)));
      }
    }
  }
}

// DualPipeV holds 2p + 1 chunks (half a stage each) on every rank, the table's PP + 1.
// Activations held: 1F1B rank s has its warm-up p-s-1 forwards plus the steady one in flight,
// min(p - s, m) (PipeDream-Flush, ICML'21 §3); GPipe all m; ZB-H1 runs F and B in 1F1B's order, so
// the same as 1F1B (W frees no activation the B has not). Interleaved (Megatron's order): rank s
// holds its warm-up 2(p-s-1) + (v-1)p chunk forwards plus the steady one, min(2(p-s-1) + (v-1)p + 1,
// m·v) chunks, and all m·v when m == p (all forwards first). Each chunk is 1/v of a stage, so rank 0
// holds (2(p-1) + (v-1)p + 1)/v stages' worth against 1F1B's p: e.g. p = 4, v = 2: 5.5 vs 4.
TEST_CASE("pipeline schedules hold the activations each paper states", "[pipeline]") {
  for (const Case& c : cases()) {
    INFO(describe(c));
    const int p = c.shape.stages, m = c.shape.microbatches, v = c.shape.virtual_stages;
    const auto schedule = make_schedule(c.yaml);
    const auto timing = replay(c.shape, schedule->order(c.shape), PassDurations{});
    for (int s = 0; s < p; ++s) {
      INFO("rank " << s);
      int expected = 0;
      if (c.name == "gpipe")
        expected = m;
      else if (c.name == "dualpipe_v")  // DualPipe's table: PP + 1 stages' worth, PP = 2p chunks in a V
        expected = 2 * p + 1;
      else if (c.name == "1f1b" || c.name == "zb_h1")
        expected = std::min(p - s, m);
      else
        expected = m == p ? m * v : std::min(2 * (p - s - 1) + (v - 1) * p + 1, m * v);
      CHECK(timing.peak_activations[s] == expected);
    }
  }
  const auto interleaved = make_schedule("impl: interleaved_1f1b\nvirtual_stages: 2");
  const PipelineShape shape{4, 8, 2};
  CHECK(replay(shape, interleaved->order(shape), {}).peak_activations == std::vector<int>{11, 9, 7, 5});
}

TEST_CASE("each chunk's peak is its own: the last stage's chunk holds one micro-batch, interleaved or not", "[pipeline]") {
  // Training memory counts the embedding's and the LM head's activations by their chunk's peak: the
  // last model stage runs each backward right after its forward, so its chunk holds one micro-batch
  // (GPipe, and interleaved 1F1B with m = p, which runs all forwards first: all of them), whatever
  // the rank holds in its other chunks.
  for (const Case& c : cases()) {
    INFO(describe(c));
    if (c.name == "dualpipe_v") continue;  // its last stage sits on rank 0 (pipeline_schedule_test's V case)
    const int p = c.shape.stages, m = c.shape.microbatches, v = c.shape.virtual_stages;
    const auto timing = replay(c.shape, make_schedule(c.yaml)->order(c.shape), PassDurations{});
    const bool all_forward_first = c.name == "gpipe" || (c.name == "interleaved_1f1b" && m == p);
    CHECK(timing.peak_chunk_activations[p - 1][v - 1] == (all_forward_first ? m : 1));
    for (int s = 0; s < p; ++s) {
      int most = 0, sum = 0;
      for (int chunk : timing.peak_chunk_activations[s]) {
        most = std::max(most, chunk);
        sum += chunk;
      }
      CHECK(most <= timing.peak_activations[s]);
      CHECK(sum >= timing.peak_activations[s]);
    }
  }
  // Interleaved 1F1B, p 4, v 2, m 8: the first rank's chunk 0 (the embedding) holds 8 of its 11
  // (warm-up forwards of micro-batches 0-3 and 4-5 of chunk 0, two more before its first chunk-0
  // backward), the last rank's chunk 1 (the head) 1 of its 5, where an even share would be 6 and 3.
  const PipelineShape shape{4, 8, 2};
  const auto timing = replay(shape, make_schedule("impl: interleaved_1f1b\nvirtual_stages: 2")->order(shape), {});
  CHECK(timing.peak_chunk_activations[0][0] == 8);
  CHECK(timing.peak_chunk_activations[3][1] == 1);
}

TEST_CASE("pipeline shapes and configs a schedule cannot run are input errors", "[pipeline]") {
  const auto interleaved = make_schedule("impl: interleaved_1f1b\nvirtual_stages: 2");
  CHECK(interleaved->virtual_stages() == 2);
  CHECK_THROWS_MATCHES(interleaved->check({4, 6, 2}), InputError,
                       Catch::Message("interleaved_1f1b: microbatches = 6 is not a multiple of pipeline stages = 4 "
                                      "(Megatron-LM's interleaved schedule runs the microbatches in groups of one "
                                      "per stage)"));
  CHECK_THROWS_WITH(interleaved->check({4, 8, 3}), Catch::Contains("virtual stages = 3") && Catch::Contains("2 chunk"));
  CHECK_THROWS_WITH(make_schedule("impl: interleaved_1f1b\nvirtual_stages: 1"),
                    Catch::Contains("virtual_stages") && Catch::Contains("1"));
  CHECK_THROWS_AS(make_schedule("impl: interleaved_1f1b"), InputError);
  const auto one_f_one_b = make_schedule("impl: 1f1b");
  CHECK_THROWS_WITH(one_f_one_b->check({4, 0, 1}), Catch::Contains("microbatches = 0"));
  CHECK_THROWS_WITH(one_f_one_b->check({0, 4, 1}), Catch::Contains("stages = 0"));
  CHECK_THROWS_AS(one_f_one_b->check({4, 8, 2}), InputError);
  CHECK_THROWS_WITH(make_schedule("impl: 1fb1"), Catch::Contains("did you mean '1f1b'"));
}

TEST_CASE("a pipeline order that cannot complete is an invariant error naming the rank and op", "[pipeline]") {
  const PipelineShape shape{2, 1, 1};
  // The last rank runs its backward before its own forward: it waits forever.
  const std::vector<std::vector<PipelineOp>> stuck{
      {{PassKind::forward, 0, 0}, {PassKind::backward, 0, 0}},
      {{PassKind::backward, 0, 0}, {PassKind::forward, 0, 0}}};
  CHECK_THROWS_MATCHES(replay(shape, stuck, {}), InvariantError,
                       Catch::Message("pipeline order cannot complete: rank 0 waits forever at BW(mb 0, chunk 0) for "
                                      "BW(mb 0, chunk 0) on rank 1; rank 1 waits forever at BW(mb 0, chunk 0) for "
                                      "F(mb 0, chunk 0) on rank 1"));
  const std::vector<std::vector<PipelineOp>> twice{{{PassKind::forward, 0, 0}, {PassKind::forward, 0, 0}}, {}};
  CHECK_THROWS_WITH(replay(shape, twice, {}), Catch::Contains("rank 0 runs F(mb 0, chunk 0) twice"));
  const std::vector<std::vector<PipelineOp>> outside{{{PassKind::forward, 1, 0}}, {}};
  CHECK_THROWS_AS(replay(shape, outside, {}), InvariantError);
}

TEST_CASE("dualpipe_v places its chunks in a V and needs 2p micro-batches", "[pipeline]") {
  const PipelineShape shape{4, 8, 2, true};
  // Rank s holds stages s and 7 - s: the micro-batch turns on rank 3, and rank 0 holds the first
  // and the last stage.
  CHECK(model_stage(shape, 0, 1) == 7);
  CHECK(model_stage(shape, 3, 1) == 4);
  CHECK(stage_location(shape, 4).rank == 3);
  CHECK(stage_location(shape, 4).chunk == 1);
  CHECK(dependencies(shape, 3, {PassKind::forward, 0, 1}) == std::vector<RankOp>{{3, {PassKind::forward, 0, 0}}});
  CHECK(dependencies(shape, 2, {PassKind::backward_input, 1, 1}) ==
        std::vector<RankOp>{{2, {PassKind::forward, 1, 1}}, {1, {PassKind::backward_input, 1, 1}}});
  const auto schedule = make_schedule("impl: dualpipe_v");
  CHECK(schedule->v_shape());
  CHECK(schedule->virtual_stages() == 2);
  CHECK(schedule->splits_backward());
  CHECK_THROWS_WITH(schedule->check({4, 7, 2, true}), Catch::Contains("at least 2 x stages = 8"));
}

TEST_CASE("every pipeline schedule is found by name in the registry", "[pipeline]") {
  for (const char* name : {"gpipe", "1f1b", "zb_h1"}) {
    const auto s = make_schedule(fmt::format("impl: {}", name));
    CHECK(s->virtual_stages() == 1);
    CHECK(s->splits_backward() == (std::string(name) == "zb_h1"));
  }
  const auto interleaved = make_schedule("impl: interleaved_1f1b\nvirtual_stages: 4");
  CHECK(interleaved->virtual_stages() == 4);
  CHECK_FALSE(interleaved->splits_backward());
}

TEST_CASE("dualpipe holds two model copies fed from both ends", "[pipeline]") {
  // p = 4 ranks, 8 micro-batches: 0-3 run down through the chunk-0 copies (stage s on rank s), 4-7
  // up through the chunk-1 copies (stage s on rank 3 - s). Ranks 0 and 3 each hold an embedding and
  // a head.
  const PipelineShape shape{4, 8, 1, false, true};
  CHECK(shape.model_stages() == 4);
  CHECK(shape.chunks() == 2);
  CHECK(model_stage(shape, 0, 1) == 3);
  CHECK(model_stage(shape, 3, 1) == 0);
  CHECK(stage_location(shape, 1, 0).rank == 1);
  CHECK(stage_location(shape, 1, 0).chunk == 0);
  CHECK(stage_location(shape, 1, 1).rank == 2);
  CHECK(stage_location(shape, 1, 1).chunk == 1);
  CHECK(shape.direction(3) == 0);
  CHECK(shape.direction(4) == 1);
  // Micro-batch 5 goes up: its forward of stage 1 (rank 2) follows stage 0's on rank 3, and its
  // backward of stage 1 waits for stage 2's on rank 1.
  CHECK(dependencies(shape, 2, {PassKind::forward, 5, 1}) == std::vector<RankOp>{{3, {PassKind::forward, 5, 1}}});
  CHECK(dependencies(shape, 2, {PassKind::backward_input, 5, 1}) ==
        std::vector<RankOp>{{2, {PassKind::forward, 5, 1}}, {1, {PassKind::backward_input, 5, 1}}});
  const auto schedule = make_schedule("impl: dualpipe");
  CHECK(schedule->bidirectional());
  CHECK(schedule->virtual_stages() == 1);
  CHECK(schedule->splits_backward());
  CHECK_THROWS_WITH(schedule->check({3, 8, 1, false, true}), Catch::Contains("stages = 3: expected an even number"));
  CHECK_THROWS_WITH(schedule->check({4, 7, 1, false, true}), Catch::Contains("expected an even number, at least 2 x stages = 8"));
  CHECK_THROWS_WITH(schedule->check({4, 6, 1, false, true}), Catch::Contains("at least 2 x stages = 8"));
  // A micro-batch run in the other direction's chunk is refused by the replay.
  const std::vector<std::vector<PipelineOp>> wrong{{{PassKind::forward, 0, 1}}, {}};
  CHECK_THROWS_WITH(replay({2, 4, 1, false, true}, wrong, {}), Catch::Contains("the other direction's chunk"));
}

// DeepSeek derived DualPipeV by cutting DualPipe in half: ranks r and p-1-r of DualPipe mirror each
// other, each running V rank min(r, p-1-r)'s order for its two directions. With uniform passes and
// free communication DualPipe on p ranks with m micro-batches therefore replays exactly as
// DualPipeV on p/2 ranks with m/2: same makespan, same activations held (the table's PP + 1 stages
// per device), the bubble within the table's (PP/2 - 1)(F&B + B - 3W).
TEST_CASE("dualpipe replays as two mirrored DualPipeV halves, every pass once", "[pipeline]") {
  const auto dualpipe = make_schedule("impl: dualpipe");
  const auto v = make_schedule("impl: dualpipe_v");
  for (int p : {2, 4, 8})
    for (int m : {2 * p, 2 * p + 2, 4 * p, 32}) {
      if (m < 2 * p) continue;
      INFO("p=" << p << " m=" << m);
      const PipelineShape shape{p, m, 1, false, true};
      REQUIRE_NOTHROW(dualpipe->check(shape));
      const auto order = dualpipe->order(shape);
      REQUIRE(static_cast<int>(order.size()) == p);
      for (int r = 0; r < p; ++r) {
        INFO("rank " << r);
        std::map<std::tuple<PassKind, int, int>, int> seen;
        for (const auto& op : order[r]) ++seen[{op.kind, op.microbatch, op.chunk}];
        CHECK(order[r].size() == 3u * m);
        for (PassKind kind : {PassKind::forward, PassKind::backward_input, PassKind::backward_weight})
          for (int mb = 0; mb < m; ++mb) CHECK(seen[{kind, mb, shape.direction(mb)}] == 1);
      }
      const PipelineShape half{p / 2, m / 2, 2, true};
      for (const PassDurations d : {PassDurations{1, 1, 1}, PassDurations{1, 2, 1}, PassDurations{2, 3, 1}}) {
        const auto timing = replay(shape, order, d);
        const auto mirrored = replay(half, v->order(half), d);
        CHECK(timing.makespan == mirrored.makespan);
        const double work = d.forward + d.backward_input + d.backward_weight;
        const double full = d.backward_input + d.backward_weight;
        CHECK(timing.makespan - m * work <= (p / 2 - 1) * (d.forward + full + full - 3 * d.backward_weight));
        for (int r = 0; r < p; ++r) {
          const int hr = std::min(r, p - 1 - r);
          const auto& mine = timing.ranks[r];
          const auto& theirs = mirrored.ranks[hr];
          REQUIRE(mine.size() == theirs.size());
          for (std::size_t i = 0; i < mine.size(); ++i) {
            CHECK(mine[i].start == theirs[i].start);
            CHECK(mine[i].end == theirs[i].end);
          }
          CHECK(timing.peak_activations[r] == p + 1);
        }
      }
    }
}
