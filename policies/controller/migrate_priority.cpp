// Priority migration (Llumnix, Sun et al. OSDI'24: migration clears room for high-priority
// requests): every `interval`, on each instance where a request waits with a higher priority than
// some decoding sequence there, the lowest-priority decoding sequence (the shortest among equals)
// migrates to the least loaded other instance, freeing its KV for the waiting request. Priorities
// come from workload.tenants. One migration per source at a time.
//   interval: 50 ms (Llumnix's POLLING_INTERVAL), and the migration keys
//   (policies/controller/migration_options.hpp)
// Instances of every role but prefill take part (targets: active ones).
#include <algorithm>
#include <limits>

#include "policies/controller/periodic_migration.hpp"
#include "sim/core/registry.hpp"

namespace hetsim::policies {
namespace {

class MigratePriority final : public PeriodicMigration {
 public:
  explicit MigratePriority(const config::Node& cfg) : PeriodicMigration(cfg, "50 ms") {}

 private:
  void scan() override {
    serving::ClusterFacade& c = cluster();
    for (std::size_t i = 0; i < c.instances(); ++i) {
      if (!takes_part(i) || busy(i) || c.waiting(i).empty()) continue;
      std::int32_t waiting_top = std::numeric_limits<std::int32_t>::min();
      for (const Sequence* s : c.waiting(i)) waiting_top = std::max(waiting_top, s->priority);
      Sequence* victim = nullptr;
      for (Sequence* s : c.running(i))
        if (s->decoding() && !s->migrating && s->priority < waiting_top &&
            (!victim || s->priority < victim->priority || (s->priority == victim->priority && s->computed < victim->computed)))
          victim = s;
      if (!victim) continue;
      const std::size_t target = least_loaded_target(*victim, i);
      if (target < c.instances()) start(*victim, i, target);
    }
  }
};

}  // namespace
HETSIM_REGISTER(Controller, MigratePriority, "migrate_priority",
                "Llumnix priorities: migrate a low-priority decoding sequence off an instance where a higher-priority request waits");
}  // namespace hetsim::policies
