// Draining by migration (Llumnix, Sun et al. OSDI'24, Sec. 4.4: migration drains an instance
// before it is released, so scaling in waits for no long request): every `interval`, each
// draining instance (one an autoscaler is stopping) live-migrates a decoding sequence to the least
// loaded active instance that can hold it, the shortest first (the cheapest to move, as Llumnix
// picks; how long each will still run is unknown to it). Requests still waiting there run where they are (they hold no KV to move). One
// migration per source at a time.
//   interval: 50 ms (Llumnix's POLLING_INTERVAL), and the migration keys
//   (policies/controller/migration_options.hpp)
#include "policies/controller/periodic_migration.hpp"
#include "sim/core/registry.hpp"

namespace hetsim::policies {
namespace {

class MigrateDrain final : public PeriodicMigration {
 public:
  explicit MigrateDrain(const config::Node& cfg) : PeriodicMigration(cfg, "50 ms") {}

 private:
  bool dormant() const override { return cluster().count(serving::InstanceState::draining) == 0; }
  void scan() override {
    serving::ClusterFacade& c = cluster();
    for (std::size_t i = 0; i < c.instances(); ++i) {
      if (c.state(i) != serving::InstanceState::draining || !takes_part(i) || busy(i)) continue;
      Sequence* pick = nullptr;
      for (Sequence* s : c.running(i))
        if (s->decoding() && !s->migrating && (!pick || s->computed < pick->computed))
          pick = s;
      if (!pick) continue;
      const std::size_t target = least_loaded_target(*pick, i);
      if (target < c.instances()) start(*pick, i, target);
    }
  }
};

}  // namespace
HETSIM_REGISTER(Controller, MigrateDrain, "migrate_drain",
                "Llumnix draining: live-migrate decoding sequences off instances being stopped, the shortest first");
}  // namespace hetsim::policies
