#pragma once
// The keys every migration policy shares (Llumnix, Sun et al. OSDI'24):
//   mode: live | blocking | recompute   staged copies while decoding then a stop-and-copy; or stop,
//                                       copy everything, resume; or stop, drop, recompute there
//   max_stages: 3                       copy stages at most, the stop-and-copy included (Llumnix's
//                                       MIGRATION_MAX_STAGES)
//   last_stage_max_blocks: 16           stop once what is left fits in this many KV blocks
//                                       (Llumnix's LAST_STAGE_MAX_BLOCKS)
//   setup: 0 s                          per flow, before the first byte
#include <fmt/format.h>

#include <utility>
#include <vector>

#include "sim/core/config.hpp"
#include "sim/core/units.hpp"
#include "sim/serving/cluster_facade.hpp"

namespace hetsim::policies {

/// Which instances have a migration out under way: the sequence each last sent and its id (a
/// sequence's storage is recycled once it ends, so the id tells whether it is still that one).
class MigrationsInFlight {
 public:
  void resize(std::size_t instances) { moving_.assign(instances, {nullptr, -1}); }
  bool busy(std::size_t i) const {
    return moving_[i].first && moving_[i].first->id == moving_[i].second && moving_[i].first->migrating;
  }
  void started(std::size_t i, const Sequence& seq) { moving_[i] = {&seq, seq.id}; }

 private:
  std::vector<std::pair<const Sequence*, std::int64_t>> moving_;
};

/// An instance's load as the migration triggers compare it: KV utilisation, plus one while
/// requests wait there (it ran out of room).
inline double migration_load(const ReplicaLoad& l) { return kv_utilization(l) + (l.waiting > 0 ? 1.0 : 0.0); }

inline serving::ClusterFacade::MigrationOptions parse_migration_options(const config::Node& cfg) {
  using Mode = serving::ClusterFacade::MigrationMode;
  serving::ClusterFacade::MigrationOptions o;
  const std::string mode = cfg.get<std::string>("mode").default_to("live").one_of({"live", "blocking", "recompute"}).value();
  o.mode = mode == "live" ? Mode::live : mode == "blocking" ? Mode::blocking : Mode::recompute;
  o.max_stages = cfg.get<int>("max_stages").default_to(3).in_range(1, 64);
  o.last_stage_max_blocks = cfg.get<std::int64_t>("last_stage_max_blocks").default_to(16).in_range(0, std::int64_t{1} << 30);
  o.setup = cfg.quantity("setup", units::Dim::time).default_to("0 s").non_negative();
  if (o.setup > 1) cfg.fail_key("setup", fmt::format("{:g} s", o.setup), "at most 1 s per flow");
  return o;
}

}  // namespace hetsim::policies
