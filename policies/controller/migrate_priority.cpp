// Priority migration (Llumnix, Sun et al. OSDI'24: migration clears room for high-priority
// requests): every `interval`, on each instance where a request waits with a higher priority than
// some decoding sequence there, the lowest-priority decoding sequence (the shortest among equals)
// migrates to the least loaded other instance, freeing its KV for the waiting request. Priorities
// come from workload.tenants. One migration per source at a time.
//   interval: 50 ms (Llumnix's POLLING_INTERVAL), and the migration keys
//   (policies/controller/migration_options.hpp)
// Instances of every role but prefill take part.
#include <limits>
#include <vector>

#include "policies/controller/migration_options.hpp"
#include "sim/core/registry.hpp"
#include "sim/serving/controller.hpp"

namespace hetsim::policies {
namespace {

class MigratePriority final : public Controller {
 public:
  explicit MigratePriority(const config::Node& cfg)
      : interval_(cfg.quantity("interval", units::Dim::time).default_to("50 ms").positive()),
        options_(parse_migration_options(cfg)) {
    if (interval_ < 1e-3) cfg.fail_key("interval", fmt::format("{:g} s", interval_), "at least 1 ms");
  }
  bool migrates() const override { return true; }
  void attach(serving::ClusterFacade& cluster) override {
    cluster_ = &cluster;
    in_flight_.resize(cluster.instances());
    cluster.set_timer(interval_, [this] { tick(); });
  }

 private:
  bool takes_part(std::size_t i) const { return cluster_->role(i) != serving::InstanceRole::prefill; }

  void tick() {
    for (std::size_t i = 0; i < cluster_->instances(); ++i) {
      if (!takes_part(i) || in_flight_.busy(i) || cluster_->waiting(i).empty()) continue;
      std::int32_t waiting_top = std::numeric_limits<std::int32_t>::min();
      for (const Sequence* s : cluster_->waiting(i)) waiting_top = std::max(waiting_top, s->priority);
      Sequence* victim = nullptr;
      for (Sequence* s : cluster_->running(i))
        if (s->decoding() && !s->migrating && s->priority < waiting_top &&
            (!victim || s->priority < victim->priority || (s->priority == victim->priority && s->computed < victim->computed)))
          victim = s;
      if (!victim) continue;
      std::size_t target = cluster_->instances();
      double least = std::numeric_limits<double>::infinity();
      for (std::size_t j = 0; j < cluster_->instances(); ++j) {
        if (j == i || !takes_part(j) || !cluster_->can_hold(*victim, j)) continue;
        const double x = migration_load(cluster_->load(j));
        if (x < least) least = x, target = j;
      }
      if (target < cluster_->instances() && cluster_->migrate(*victim, i, target, options_)) in_flight_.started(i, *victim);
    }
    if (!cluster_->winding_down()) cluster_->set_timer(cluster_->now() + interval_, [this] { tick(); });
  }

  double interval_;
  serving::ClusterFacade::MigrationOptions options_;
  serving::ClusterFacade* cluster_ = nullptr;
  MigrationsInFlight in_flight_;
};

}  // namespace
HETSIM_REGISTER(Controller, MigratePriority, "migrate_priority",
                "Llumnix priorities: migrate a low-priority decoding sequence off an instance where a higher-priority request waits");
}  // namespace hetsim::policies
