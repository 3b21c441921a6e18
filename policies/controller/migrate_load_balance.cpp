// Load-balancing live migration (Llumnix, Sun et al. OSDI'24, Sec. 4.4): every `interval` the
// instance under the most KV pressure and the one under the least are compared; when their
// loads differ by more than `threshold`, the source's shortest decoding sequence (the cheapest to
// move, as Llumnix picks) migrates to the target. An instance's load is its KV utilisation, plus
// one while requests wait there (it has run out of room). One migration per source at a time.
//   interval: 100 ms, threshold: 0.25, and the migration keys (policies/controller/migration_options.hpp)
// Instances of every role but prefill take part (targets: active ones).
#include <limits>

#include "policies/controller/periodic_migration.hpp"
#include "sim/core/registry.hpp"

namespace hetsim::policies {
namespace {

class MigrateLoadBalance final : public PeriodicMigration {
 public:
  explicit MigrateLoadBalance(const config::Node& cfg)
      : PeriodicMigration(cfg, "100 ms"), threshold_(cfg.get<double>("threshold").default_to(0.25).in_range(0.0, 2.0)) {}

 private:
  void scan() override {
    serving::ClusterFacade& c = cluster();
    std::size_t src = c.instances(), dst = c.instances();
    double hi = -1, lo = std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < c.instances(); ++i) {
      if (!takes_part(i)) continue;
      const double x = migration_load(c.load(i));
      if (x > hi && !busy(i)) hi = x, src = i;
      if (x < lo && accepts(i)) lo = x, dst = i;
    }
    if (src == c.instances() || dst == c.instances() || src == dst || hi - lo <= threshold_) return;
    Sequence* pick = nullptr;
    for (Sequence* s : c.running(src))
      if (s->decoding() && !s->migrating && (!pick || s->computed < pick->computed)) pick = s;
    if (pick) start(*pick, src, dst);
  }

  double threshold_;
};

}  // namespace
HETSIM_REGISTER(Controller, MigrateLoadBalance, "migrate_load_balance",
                "Llumnix load balancing: live-migrate the shortest decoding sequence from the most to the least loaded instance");
}  // namespace hetsim::policies
