#pragma once
// policies.sequence_sharding of a training scenario: static context parallelism (the default, the
// stages as priced), or a policy that regroups the data x context parallel ranks per batch
// (hybrid_dp): the job then runs as dp x cp ranks of cp 1, each micro-batch sequence seq_len / cp
// tokens long (what one rank holds), and every iteration's documents are placed on that pool and
// their K/V rings priced here, for the engine (training::ShardedDocuments).
#include <memory>

#include "hw/cost_model.hpp"
#include "sim/core/config.hpp"
#include "sim/training/sequence_sharding.hpp"

namespace hetsim::sim {

struct TrainingScenario;

/// Reads the policy; for one that regroups, turns sc.job into the pool's shape (dp x cp ranks, cp
/// 1, sequences of seq_len / cp tokens, global_batch x cp of them), keeping what was given. Null
/// for static_cp. Needs sc.job's plan, seq_len and batch read and checked.
std::unique_ptr<training::ShardedDocuments> read_sequence_sharding(TrainingScenario& sc, const config::Node& cfg);

/// Places every iteration's documents (each original replica's own stream, as static packing
/// draws them) and prices their rings with `cost` (its scale-out level set). Needs sc.stages,
/// sc.documents and the cluster's nodes.
void shard_documents(TrainingScenario& sc, const hw::CostModel& cost);

}  // namespace hetsim::sim
