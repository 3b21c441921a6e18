#include "sim/scenario/training_sequence_sharding.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <string_view>

#include "models/graph_builder.hpp"
#include "sim/core/registry.hpp"
#include "sim/core/rng.hpp"
#include "sim/scenario/training_scenario.hpp"
#include "workload/document_packing.hpp"

namespace hetsim::sim {
namespace {

/// The K/V exchange ops of one pass of one model stage, as the dense builder emits them under
/// context parallelism, with their payload per token of the micro-batch.
struct RingTemplate {
  Op op;
  double bytes_per_token = 0;
};
using RingTemplates = std::vector<RingTemplate>;

/// Per model stage: the forward's and the input-gradient backward's K/V exchanges (the builder's
/// ops at cp 2, the degree and payload then set per document).
struct StageRings {
  RingTemplates forward, backward_input;
};

std::vector<StageRings> ring_templates(const TrainingScenario& sc) {
  training::TrainingJob job = sc.job;
  job.plan.cp = 2;
  const auto& builder = models::builder_for(sc.model);
  const double tokens = static_cast<double>(job.micro_batch * job.seq_len);
  std::vector<StageRings> out;
  std::vector<Op> ops;
  const auto collect = [&](RingTemplates& into) {
    for (const Op& op : ops)
      if (std::string_view(op.name).starts_with("cp_") && !std::string_view(op.name).ends_with("_wgrad"))
        into.push_back({op, op.comm_bytes / tokens});
  };
  for (int k = 0; k < job.model_stages(); ++k) {
    StageRings r;
    builder.training_forward(sc.model, job.shape(k), job.plan, ops);
    collect(r.forward);
    builder.training_backward(sc.model, job.shape(k), job.plan, ops);
    collect(r.backward_input);
    out.push_back(std::move(r));
  }
  return out;
}

/// The raw time of `templates` for a document of `tokens` over `ranks` ranks on `nodes` nodes.
double ring_seconds(const RingTemplates& templates, double tokens, int ranks, int nodes, const hw::CostModel& cost) {
  double t = 0;
  for (const RingTemplate& r : templates) {
    Op op = r.op;
    op.group = ranks;
    op.group_nodes = nodes;
    op.comm_bytes = r.bytes_per_token * tokens;
    t += cost.time(op);
  }
  return t;
}

/// Nodes the pool ranks `ranks` of pipeline stage `stage` sit on (their first devices').
int nodes_of(const TrainingScenario& sc, const std::vector<int>& ranks, int stage) {
  std::set<int> nodes;
  for (const int r : ranks) nodes.insert(sc.rank(r, stage, 0, 0) / sc.slots_per_node());
  return static_cast<int>(nodes.size());
}

}  // namespace

std::unique_ptr<training::ShardedDocuments> read_sequence_sharding(TrainingScenario& sc, const config::Node& cfg) {
  auto policy = Registry<training::SequenceShardingPolicy>::instance().make(cfg, "static_cp");
  if (!policy->regroups()) return nullptr;
  const std::string name = cfg.get<std::string>("impl").value();
  training::TrainingJob& job = sc.job;
  ParallelPlan& plan = job.plan;
  if (plan.ep > 1)
    cfg.fail_key("impl", name,
                 "static_cp with expert parallelism (regrouping the ranks that MoE all-to-alls span is not built), or "
                 "parallel.ep: 1");
  auto s = std::make_unique<training::ShardedDocuments>();
  s->name = name;
  s->policy = std::move(policy);
  s->cp = plan.cp;
  s->seq_len = job.seq_len;
  s->global_batch = job.global_batch;
  // The pool: dp x cp ranks, each running sequences of seq_len / cp tokens (its share under static CP).
  plan.dp *= plan.cp;
  job.seq_len /= plan.cp;
  job.global_batch *= plan.cp;
  plan.cp = 1;
  const double S = static_cast<double>(job.seq_len), b = static_cast<double>(job.micro_batch);
  s->pool = {plan.dp, static_cast<int>(job.microbatches()), b * S};
  s->priced_pairs = b * S * (S + 1);
  return s;
}

void shard_documents(TrainingScenario& sc, const hw::CostModel& cost) {
  training::ShardedDocuments& s = *sc.sharding;
  const std::vector<StageRings> rings = ring_templates(sc);
  const int stages = static_cast<int>(rings.size());
  // What a piece costs one rank, for balancing: the first stage's forward and backward.
  const training::StageCost& first = sc.stages.front();
  const training::PassCost work = [&] {
    training::PassCost w = first.forward;
    w += first.backward();
    return w;
  }();
  const double per_token = (work.seconds - work.attention) / s.pool.capacity;
  const double per_pair = work.attention / s.priced_pairs;
  const int tp = sc.job.plan.tp, slots = sc.slots_per_node();
  const training::PieceCost piece_cost = [&](double tokens, double pairs, double ring_tokens, int ring_ranks) {
    double seconds = per_token * tokens + per_pair * pairs;
    if (ring_ranks > 1) {
      const int nodes = training::group_nodes(ring_ranks, tp, slots);  // adjacent ranks
      const double raw = ring_seconds(rings.front().forward, ring_tokens, ring_ranks, nodes, cost) +
                         ring_seconds(rings.front().backward_input, ring_tokens, ring_ranks, nodes, cost);
      seconds += raw - std::min(raw, per_pair * pairs) * (1 - 1.0 / ring_ranks);
    }
    return seconds;
  };

  // Each original replica's document stream, as static packing draws it and cut where it cuts
  // them (at sequence ends): both compute the same attention, only where differs.
  const int replicas = sc.job.plan.dp / s.cp;
  std::vector<workload::DocumentPacker> streams;
  for (int d = 0; d < replicas; ++d)
    streams.emplace_back(*sc.documents, s.seq_len, Rng(sc.seed, fmt::format("documents-dp{}", d)));
  const std::int64_t sequences = sc.job.microbatches() * sc.job.micro_batch;
  const double static_pairs = static_cast<double>(sc.job.micro_batch) * static_cast<double>(s.seq_len) *
                              static_cast<double>(s.seq_len + 1) / s.cp;
  double share_sum = 0;
  s.share_min = 1e300;
  s.share_max = 0;
  for (int it = 0; it < sc.job.iterations; ++it) {
    std::vector<std::int64_t> documents;
    for (auto& stream : streams)
      for (std::int64_t q = 0; q < sequences; ++q) {
        const auto docs = stream.next_documents(s.seq_len);
        documents.insert(documents.end(), docs.begin(), docs.end());
      }
    training::PoolBatch batch = s.policy->assign(documents, s.pool, piece_cost);
    batch.check(static_cast<double>(sequences * s.seq_len) * replicas);
    std::vector<training::RingTime> times;
    for (const training::DocumentRing& ring : batch.rings()) {
      training::RingTime t;
      for (int k = 0; k < stages; ++k) {
        const int n = nodes_of(sc, ring.ranks, k % sc.job.plan.pp);
        const int size = static_cast<int>(ring.ranks.size());
        t.forward.push_back(ring_seconds(rings[static_cast<std::size_t>(k)].forward, ring.tokens, size, n, cost));
        t.backward_input.push_back(
            ring_seconds(rings[static_cast<std::size_t>(k)].backward_input, ring.tokens, size, n, cost));
      }
      times.push_back(std::move(t));
    }
    double iteration_sum = 0;
    for (int r = 0; r < s.pool.ranks; ++r)
      for (int m = 0; m < s.pool.microbatches; ++m) {
        const double share = batch.slot(r, m).pairs / static_pairs;
        iteration_sum += share;
        s.share_min = std::min(s.share_min, share);
        s.share_max = std::max(s.share_max, share);
      }
    share_sum += iteration_sum;
    s.iteration_share.push_back(iteration_sum / (static_cast<double>(s.pool.ranks) * s.pool.microbatches));
    s.iterations.push_back(std::move(batch));
    s.ring_times.push_back(std::move(times));
  }
  s.share_mean = share_sum / (static_cast<double>(sc.job.iterations) * s.pool.ranks * s.pool.microbatches);
}

}  // namespace hetsim::sim
