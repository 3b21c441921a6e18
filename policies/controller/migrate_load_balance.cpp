// Load-balancing live migration (Llumnix, Sun et al. OSDI'24, Sec. 4.4): every `interval` the
// instance under the most KV pressure and the one under the least are compared; when their
// loads differ by more than `threshold`, the source's shortest decoding sequence (the cheapest to
// move, as Llumnix picks) migrates to the target. An instance's load is its KV utilisation, plus
// one while requests wait there (it has run out of room). One migration per source at a time.
//   interval: 100 ms, threshold: 0.25, and the migration keys (policies/controller/migration_options.hpp)
// Instances of every role but prefill take part.
#include <limits>
#include <vector>

#include "policies/controller/migration_options.hpp"
#include "sim/core/registry.hpp"
#include "sim/serving/controller.hpp"

namespace hetsim::policies {
namespace {

class MigrateLoadBalance final : public Controller {
 public:
  explicit MigrateLoadBalance(const config::Node& cfg)
      : interval_(cfg.quantity("interval", units::Dim::time).default_to("100 ms").positive()),
        threshold_(cfg.get<double>("threshold").default_to(0.25).in_range(0.0, 2.0)),
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

  void tick() {
    std::size_t src = cluster_->instances(), dst = cluster_->instances();
    double hi = -1, lo = std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < cluster_->instances(); ++i) {
      if (cluster_->role(i) == serving::InstanceRole::prefill) continue;
      const double x = migration_load(cluster_->load(i));
      if (x > hi && !in_flight_.busy(i)) hi = x, src = i;
      if (x < lo) lo = x, dst = i;
    }
    if (src < cluster_->instances() && dst < cluster_->instances() && src != dst && hi - lo > threshold_) {
      Sequence* pick = nullptr;
      for (Sequence* s : cluster_->running(src))
        if (s->decoding() && !s->migrating && (!pick || s->computed < pick->computed)) pick = s;
      if (pick && cluster_->migrate(*pick, src, dst, options_)) in_flight_.started(src, *pick);
    }
    if (!cluster_->winding_down()) cluster_->set_timer(cluster_->now() + interval_, [this] { tick(); });
  }

  double interval_;
  double threshold_;
  serving::ClusterFacade::MigrationOptions options_;
  serving::ClusterFacade* cluster_ = nullptr;
  MigrationsInFlight in_flight_;
};

}  // namespace
HETSIM_REGISTER(Controller, MigrateLoadBalance, "migrate_load_balance",
                "Llumnix load balancing: live-migrate the shortest decoding sequence from the most to the least loaded instance");
}  // namespace hetsim::policies
