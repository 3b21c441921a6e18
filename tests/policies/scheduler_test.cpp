#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>

#include "sim/serving/kv_manager.hpp"
#include "sim/serving/preemption.hpp"
#include "sim/serving/scheduler.hpp"
#include "sim/core/registry.hpp"

using namespace hetsim;
using namespace hetsim::policies;

namespace {

/// A replica's policies built from YAML, with a KV cache of exactly `blocks` blocks of 16 tokens.
struct Fixture {
  config::Document doc;
  std::unique_ptr<Scheduler> scheduler;
  std::unique_ptr<KvManager> kv;
  std::unique_ptr<Preemption> preemption;
  std::unique_ptr<ReplicaQueues> queues;
  std::vector<std::unique_ptr<Sequence>> seqs;

  Fixture(const std::string& scheduler_yaml, std::int64_t blocks, double watermark = 0.0)
      : doc(config::Document::load_string(
            fmt::format("scheduler: {}\nkv: {{impl: paged, block_size: 16, gpu_memory_utilization: 1.0, "
                        "activation_reserve: 0 B, watermark: {}}}\npreemption: {{impl: recompute}}\n",
                        scheduler_yaml, watermark),
            "fixture.yaml")) {
    scheduler = Registry<Scheduler>::instance().make(doc.root().child("scheduler"), "vllm");
    kv = Registry<KvManager>::instance().make(doc.root().child("kv"), "paged");
    preemption = Registry<Preemption>::instance().make(doc.root().child("preemption"), "recompute");
    kv->size({static_cast<double>(blocks * 16), 0.0, 1.0});
    REQUIRE(kv->total_blocks() == blocks);
    queues = std::make_unique<ReplicaQueues>(*kv, *preemption);
  }
  Sequence& add(std::int64_t prompt, std::int64_t output) {
    auto s = std::make_unique<Sequence>();
    s->id = static_cast<std::int64_t>(seqs.size());
    s->prompt_tokens = prompt;
    s->output_tokens = output;
    queues->waiting().push_back(s.get());
    seqs.push_back(std::move(s));
    return *seqs.back();
  }
  /// Schedules one step and applies its effects (what the engine's Replica does at step end).
  std::vector<ScheduledItem> step() {
    std::vector<ScheduledItem> batch;
    scheduler->schedule(*queues, batch);
    for (auto& item : batch) {
      Sequence& s = *item.seq;
      s.computed += item.tokens;
      if (s.computed == s.known()) ++s.generated;
      if (s.finished()) kv->release(s);
    }
    auto& running = queues->running();
    running.erase(std::remove_if(running.begin(), running.end(), [](Sequence* s) { return s->finished(); }),
                  running.end());
    REQUIRE(kv->used_blocks() <= kv->total_blocks());
    return batch;
  }
};

}  // namespace

TEST_CASE("vllm scheduler: prefills first, whole prompts, then decodes", "[policies][scheduler]") {
  Fixture f("{impl: vllm, max_num_seqs: 8, max_num_batched_tokens: 2048}", 1000);
  Sequence& a = f.add(100, 3);
  Sequence& b = f.add(300, 3);
  auto first = f.step();
  REQUIRE(first.size() == 2);
  CHECK(first[0].tokens == 100);
  CHECK(first[1].tokens == 300);
  CHECK(a.generated == 1);
  f.add(50, 2);  // arrives: prefill has priority over the running decodes
  auto second = f.step();
  REQUIRE(second.size() == 1);
  CHECK(second[0].tokens == 50);
  auto third = f.step();
  CHECK(third.size() == 3);
  CHECK(std::all_of(third.begin(), third.end(), [](const ScheduledItem& i) { return i.tokens == 1; }));
  CHECK(static_cast<std::int64_t>(b.blocks.size()) == f.kv->blocks_for(301));
}

TEST_CASE("vllm scheduler: token budget and sequence limit cap a prefill batch", "[policies][scheduler]") {
  Fixture f("{impl: vllm, max_num_seqs: 2, max_num_batched_tokens: 500}", 1000);
  f.add(300, 2);
  f.add(300, 2);
  f.add(10, 2);
  auto batch = f.step();
  CHECK(batch.size() == 1);  // the second prompt would exceed 500 tokens; FCFS keeps the third behind it
  batch = f.step();
  CHECK(batch.size() == 1);  // 300 + 10 fit the budget but only 2 sequences may run
}

TEST_CASE("vllm scheduler: out of KV blocks, the newest running sequence is preempted by recompute",
          "[policies][scheduler]") {
  // 4 blocks of 16 tokens. Two 32-token prompts take 2 blocks each; the first decode step needs a
  // third block for each, so the newer one is evicted and re-queued at the front.
  Fixture f("{impl: vllm, max_num_seqs: 8, max_num_batched_tokens: 1000}", 4);
  Sequence& old_seq = f.add(32, 4);
  Sequence& new_seq = f.add(32, 4);
  f.step();
  CHECK(f.kv->used_blocks() == 4);
  auto decode = f.step();
  REQUIRE(decode.size() == 1);
  CHECK(decode[0].seq == &old_seq);
  CHECK(new_seq.preemptions == 1);
  CHECK(new_seq.computed == 0);
  CHECK(new_seq.blocks.empty());
  CHECK(f.queues->waiting().front() == &new_seq);
  // Everything still finishes, and the preempted sequence re-prefills prompt + generated tokens.
  int steps = 0;
  while ((!f.queues->running().empty() || !f.queues->waiting().empty()) && steps < 100) {
    auto batch = f.step();
    for (const auto& item : batch)
      if (item.seq == &new_seq && item.tokens > 1) CHECK(item.tokens == 32 + 1);
    ++steps;
  }
  CHECK(old_seq.finished());
  CHECK(new_seq.finished());
  CHECK(f.kv->used_blocks() == 0);
}

TEST_CASE("sarathi scheduler: decodes run every step, prompt chunks fill the rest of the budget",
          "[policies][scheduler]") {
  Fixture f("{impl: sarathi, max_num_batched_tokens: 256}", 1000);
  Sequence& shorter = f.add(10, 5);
  auto first = f.step();
  REQUIRE(first.size() == 1);
  CHECK(shorter.decoding());
  Sequence& longer = f.add(1000, 2);
  auto second = f.step();
  REQUIRE(second.size() == 2);
  CHECK(second[0].seq == &shorter);
  CHECK(second[0].tokens == 1);
  CHECK(second[1].seq == &longer);
  CHECK(second[1].tokens == 255);  // 256 budget - 1 decode
  auto third = f.step();
  CHECK(third[1].tokens == 255);
  CHECK(longer.computed == 510);
}

TEST_CASE("paged KV manager: admission keeps the watermark free while others run", "[policies][kv]") {
  Fixture f("{impl: vllm, max_num_seqs: 8, max_num_batched_tokens: 4096}", 100, 0.1);
  CHECK(f.kv->watermark_blocks() == 10);
  f.add(16 * 85, 2);  // 85 blocks: admitted, nothing else runs
  f.add(16 * 6, 2);   // 6 more would leave 9 < 10 free
  auto batch = f.step();
  CHECK(batch.size() == 1);
  CHECK(f.kv->used_blocks() == 85);
}

TEST_CASE("priority scheduler: a high-priority arrival preempts the newest low-priority sequences for KV room",
          "[policies][scheduler][priority]") {
  // 40 blocks of 16 tokens; two low-priority sequences of 300 tokens hold 38 of them.
  Fixture f("{impl: priority, max_num_seqs: 8, max_num_batched_tokens: 2048}", 40);
  Sequence& low_a = f.add(300, 50);
  Sequence& low_b = f.add(300, 50);
  f.step();
  REQUIRE(f.queues->running().size() == 2);
  // A high-priority 200-token prompt (13 blocks) arrives: low_b, the newest, is preempted for it.
  Sequence& high = f.add(200, 5);
  high.priority = 1;
  const auto batch = f.step();
  CHECK(std::any_of(batch.begin(), batch.end(), [&](const ScheduledItem& i) { return i.seq == &high; }));
  CHECK(low_b.preemptions == 1);
  CHECK(low_a.preemptions == 0);
  // A second high prompt (19 blocks) preempts low_a, the last low-priority sequence.
  Sequence& high2 = f.add(300, 5);
  high2.priority = 1;
  const auto next = f.step();
  CHECK(std::any_of(next.begin(), next.end(), [&](const ScheduledItem& i) { return i.seq == &high2; }));
  CHECK(low_a.preemptions == 1);
  // Equal priorities never preempt for admission: a third waits (8 blocks free of the 19 it needs).
  Sequence& high3 = f.add(300, 5);
  high3.priority = 1;
  const auto third = f.step();
  CHECK(std::none_of(third.begin(), third.end(), [&](const ScheduledItem& i) { return i.seq == &high3; }));
  CHECK(high2.preemptions == 0);
  CHECK(high.preemptions == 0);
}

TEST_CASE("priority scheduler: waiting requests go highest class first, first come first served within one",
          "[policies][scheduler][priority]") {
  Fixture f("{impl: priority, max_num_seqs: 1, max_num_batched_tokens: 2048}", 1000);
  Sequence& a = f.add(100, 1);
  Sequence& b = f.add(100, 1);
  Sequence& c = f.add(100, 1);
  b.priority = 2;
  c.priority = 2;
  a.priority = 1;
  std::vector<const Sequence*> order;
  for (int k = 0; k < 3; ++k) order.push_back(f.step().at(0).seq);
  CHECK(order == std::vector<const Sequence*>{&b, &c, &a});
}

TEST_CASE("vtc scheduler: admits the tenant with the least service first and lifts a returning tenant's counter",
          "[policies][scheduler][vtc]") {
  // One sequence at a time, so each admission is one choice.
  Fixture f("{impl: vtc, max_num_seqs: 1, max_num_batched_tokens: 4096}", 1000);
  auto add = [&](std::int32_t tenant, std::int64_t prompt) -> Sequence& {
    Sequence& s = f.add(prompt, 1);
    s.tenant = tenant;
    return s;
  };
  // Tenant 0 queues three 1,000-token prompts, tenant 1 three 100-token ones, all at once.
  for (int k = 0; k < 3; ++k) add(0, 1000);
  for (int k = 0; k < 3; ++k) add(1, 100);
  std::vector<std::int32_t> served;
  for (int k = 0; k < 6; ++k) served.push_back(f.step().at(0).seq->tenant);
  // Tie at 0: the oldest (tenant 0) first; then tenant 1 until its counter (100 a prompt) passes 1,000.
  CHECK(served == std::vector<std::int32_t>{0, 1, 1, 1, 0, 0});
  // Counters now 3,000 (tenant 0) and 300. Tenant 0 queues three more and is served once (4,000);
  // then tenant 2, never seen, queues three: lifted to 4,000, it alternates with tenant 0 (ties go
  // to the oldest) instead of taking the next three turns with a counter of 0.
  for (int k = 0; k < 3; ++k) add(0, 1000);
  CHECK(f.step().at(0).seq->tenant == 0);
  for (int k = 0; k < 3; ++k) add(2, 1000);
  served.clear();
  for (int k = 0; k < 5; ++k) served.push_back(f.step().at(0).seq->tenant);
  CHECK(served == std::vector<std::int32_t>{0, 2, 0, 2, 2});
}
