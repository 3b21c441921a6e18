#pragma once
// The frame every migration trigger shares: it looks at the cluster every `interval` until the run
// winds down, starts migrations through the facade with the shared keys
// (policies/controller/migration_options.hpp), and keeps one migration per source at a time.
#include <fmt/format.h>

#include <limits>

#include "policies/controller/migration_options.hpp"
#include "sim/core/units.hpp"
#include "sim/serving/controller.hpp"

namespace hetsim::policies {

class PeriodicMigration : public Controller {
 public:
  PeriodicMigration(const config::Node& cfg, const char* default_interval)
      : options_(parse_migration_options(cfg)), interval_(cfg.quantity("interval", units::Dim::time).default_to(default_interval).positive()) {
    if (interval_ < 1e-3) cfg.fail_key("interval", fmt::format("{:g} s", interval_), "at least 1 ms");
  }
  bool migrates() const override { return true; }
  bool acts_only_in_timers() const override { return true; }
  void attach(serving::ClusterFacade& cluster) override {
    cluster_ = &cluster;
    in_flight_.resize(cluster.instances());
    schedule(interval_);
  }

 protected:
  /// One look at the cluster: start the migrations the trigger wants.
  virtual void scan() = 0;
  /// Whether a scan now would start nothing whatever the loads (no instance it could move from):
  /// replicas may then run ahead past its next look.
  virtual bool dormant() const { return false; }
  serving::ClusterFacade& cluster() const { return *cluster_; }
  /// Instances of every role but prefill take part while they hold work (active or draining).
  bool takes_part(std::size_t i) const {
    const serving::InstanceState s = cluster_->state(i);
    return cluster_->role(i) != serving::InstanceRole::prefill &&
           (s == serving::InstanceState::active || s == serving::InstanceState::draining);
  }
  /// Whether `i` may receive a migration: it takes part and is active (not draining).
  bool accepts(std::size_t i) const { return takes_part(i) && cluster_->state(i) == serving::InstanceState::active; }
  /// The instance other than `from` that can hold `seq` with the lowest migration_load; none:
  /// instances().
  std::size_t least_loaded_target(const Sequence& seq, std::size_t from) const {
    std::size_t target = cluster_->instances();
    double least = std::numeric_limits<double>::infinity();
    for (std::size_t j = 0; j < cluster_->instances(); ++j) {
      if (j == from || !accepts(j) || !cluster_->can_hold(seq, j)) continue;
      const double x = migration_load(cluster_->load(j));
      if (x < least) least = x, target = j;
    }
    return target;
  }
  /// Starts migrating `seq` from `from` to `to` unless `from` has one under way; whether it started.
  bool start(Sequence& seq, std::size_t from, std::size_t to) {
    if (in_flight_.busy(from) || !cluster_->migrate(seq, from, to, options_)) return false;
    in_flight_.started(from, seq);
    return true;
  }
  bool busy(std::size_t i) const { return in_flight_.busy(i); }

 private:
  void schedule(double at) {
    cluster_->set_timer(at, [this] { tick(); }, [this] { return dormant(); });
  }
  void tick() {
    scan();
    if (!cluster_->winding_down()) schedule(cluster_->now() + interval_);
  }

  serving::ClusterFacade::MigrationOptions options_;
  double interval_;
  serving::ClusterFacade* cluster_ = nullptr;
  MigrationsInFlight in_flight_;
};

}  // namespace hetsim::policies
