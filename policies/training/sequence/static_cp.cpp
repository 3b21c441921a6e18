// Static context parallelism (Megatron-LM's --context-parallel-size): every packed sequence is
// split over its CP group of cp ranks, load-balanced (each rank takes two of 2 cp chunks), and the
// ranks exchange the K/V of all its tokens in a ring under the attention, whatever documents the
// sequence holds. The default; the training engine prices it from the stages as priced (the ring
// in each pass, its attention at the micro-batch's documents' share).
#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"
#include "sim/training/sequence_sharding.hpp"

namespace hetsim::policies {
namespace {

class StaticCp final : public training::SequenceShardingPolicy {
 public:
  explicit StaticCp(const config::Node&) {}
  bool regroups() const override { return false; }
  training::PoolBatch assign(const std::vector<std::int64_t>&, const training::ShardingPool&,
                             const training::PieceCost&) const override {
    throw InvariantError("static_cp does not regroup documents over a pool");
  }
};

}  // namespace
HETSIM_REGISTER(training::SequenceShardingPolicy, StaticCp, "static_cp",
                "static context parallelism: each packed sequence over its CP group, K/V of every token ringed (Megatron)");
}  // namespace hetsim::policies
