// De-fragmentation by migration (Llumnix, Sun et al. OSDI'24, Sec. 4.4: a waiting request that
// needs more KV than its instance has free, though the cluster has room in total, gets it by
// migrating running sequences away): every `interval`, on each instance whose first waiting
// request needs more free device blocks than there are (its prompt's), a decoding sequence
// migrates to the active instance with the most free blocks that has no request waiting and can
// hold it. The sequence moved is the smallest whose blocks cover the shortfall, else the largest
// (fewest bytes to free the room). One migration per source at a time.
//   interval: 50 ms (Llumnix's POLLING_INTERVAL), and the migration keys
//   (policies/controller/migration_options.hpp)
// Instances of every role but prefill take part (targets: active ones).
#include "policies/controller/periodic_migration.hpp"
#include "sim/core/registry.hpp"

namespace hetsim::policies {
namespace {

class MigrateDefrag final : public PeriodicMigration {
 public:
  explicit MigrateDefrag(const config::Node& cfg) : PeriodicMigration(cfg, "50 ms") {}

 private:
  void scan() override {
    serving::ClusterFacade& c = cluster();
    for (std::size_t i = 0; i < c.instances(); ++i) {
      if (!takes_part(i) || busy(i) || c.waiting(i).empty()) continue;
      const ReplicaLoad here = c.load(i);
      if (here.kv_block_size <= 0) continue;
      const Sequence& head = *c.waiting(i).front();
      const std::int64_t need = (head.known() + here.kv_block_size - 1) / here.kv_block_size;
      const std::int64_t short_by = need - here.kv_free_blocks;
      if (short_by <= 0) continue;  // it waits for something else (batch limits), not for room
      auto blocks = [&](const Sequence* s) { return (s->computed + here.kv_block_size - 1) / here.kv_block_size; };
      Sequence* pick = nullptr;
      for (Sequence* s : c.running(i)) {
        if (!s->decoding() || s->migrating) continue;
        const bool covers = blocks(s) >= short_by;
        const bool pick_covers = pick && blocks(pick) >= short_by;
        if (!pick || (covers && (!pick_covers || s->computed < pick->computed)) || (!covers && !pick_covers && s->computed > pick->computed))
          pick = s;
      }
      if (!pick) continue;
      std::size_t target = c.instances();
      std::int64_t most = -1;
      for (std::size_t j = 0; j < c.instances(); ++j) {
        if (j == i || !accepts(j) || !c.waiting(j).empty() || !c.can_hold(*pick, j)) continue;
        const std::int64_t free = c.load(j).kv_free_blocks;
        if (free > most) most = free, target = j;
      }
      if (target < c.instances()) start(*pick, i, target);
    }
  }
};

}  // namespace
HETSIM_REGISTER(Controller, MigrateDefrag, "migrate_defrag",
                "Llumnix de-fragmentation: migrate decoding sequences off an instance whose first waiting request lacks KV room");
}  // namespace hetsim::policies
