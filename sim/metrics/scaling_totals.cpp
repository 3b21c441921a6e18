#include "sim/metrics/scaling_totals.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "sim/core/error.hpp"

namespace hetsim::sim {
namespace {

/// Walks the log keeping each instance's provisioned/active flags (all start true).
class FleetWalk {
 public:
  explicit FleetWalk(std::size_t n) : provisioned_(n, 1), active_(n, 1), up_(static_cast<int>(n)), serving_(static_cast<int>(n)) {}
  void apply(const ScalingRecord& r) {
    const auto i = static_cast<std::size_t>(r.instance);
    if (i >= provisioned_.size()) throw InvariantError(fmt::format("scaling event for instance {} of {}", r.instance, provisioned_.size()));
    switch (r.event) {
      case ScalingEvent::start: set(provisioned_[i], up_, true); break;
      case ScalingEvent::ready: set(active_[i], serving_, true); break;
      case ScalingEvent::drain: set(active_[i], serving_, false); break;
      case ScalingEvent::revive: set(active_[i], serving_, true); break;
      case ScalingEvent::stop: set(provisioned_[i], up_, false); break;
    }
  }
  bool provisioned(std::size_t i) const { return provisioned_[i] != 0; }
  int up() const { return up_; }
  int serving() const { return serving_; }

 private:
  static void set(char& flag, int& count, bool on) {
    if ((flag != 0) == on) return;
    flag = on ? 1 : 0;
    count += on ? 1 : -1;
  }
  std::vector<char> provisioned_, active_;
  int up_, serving_;
};

}  // namespace

ScalingTotals scaling_totals(const std::vector<ScalingRecord>& log, const RunInfo& info, double end_time) {
  const std::size_t n = info.instances.size();
  ScalingTotals t;
  t.provisioned_s.assign(n, 0.0);
  FleetWalk fleet(n);
  std::vector<double> since(n, 0.0);  // when each provisioned interval began
  double last = 0, area = 0;
  // Peak and least count the fleet as it stands after all of an instant's events (the fleet
  // before the events at time 0 never lasted).
  t.peak_instances = 0;
  t.least_instances = static_cast<int>(n);
  auto observe = [&] {
    t.peak_instances = std::max(t.peak_instances, fleet.up());
    t.least_instances = std::min(t.least_instances, fleet.up());
  };
  if (log.empty() || log.front().time > 0) observe();
  for (std::size_t k = 0; k < log.size(); ++k) {
    const ScalingRecord& r = log[k];
    area += fleet.up() * (r.time - last);
    last = r.time;
    const auto i = static_cast<std::size_t>(r.instance);
    const bool was = i < n && fleet.provisioned(i);
    fleet.apply(r);
    if (was && !fleet.provisioned(i)) t.provisioned_s[i] += r.time - since[i];
    if (!was && fleet.provisioned(i)) since[i] = r.time;
    switch (r.event) {
      case ScalingEvent::start: ++t.starts; break;
      case ScalingEvent::ready:
        ++t.readies;
        t.cold_start_s.add(r.seconds);
        t.weight_bytes += r.weight_bytes;
        break;
      case ScalingEvent::drain: ++t.drains; break;
      case ScalingEvent::revive: ++t.revives; break;
      case ScalingEvent::stop: ++t.stops; break;
    }
    if (k + 1 == log.size() || log[k + 1].time > r.time) observe();
  }
  area += fleet.up() * std::max(0.0, end_time - last);
  for (std::size_t i = 0; i < n; ++i) {
    if (fleet.provisioned(i)) t.provisioned_s[i] += std::max(0.0, end_time - since[i]);
    t.device_hours += t.provisioned_s[i] * info.instances[i].tensor_parallel * info.instances[i].device_share / 3600.0;
  }
  t.mean_instances = end_time > 0 ? area / end_time : static_cast<double>(fleet.up());
  return t;
}

std::string scaling_csv(const std::vector<ScalingRecord>& log, const RunInfo& info) {
  std::string out = "time_s,instance,pool,event,provisioned,active,seconds,weight_bytes\n";
  FleetWalk fleet(info.instances.size());
  for (const ScalingRecord& r : log) {
    fleet.apply(r);
    fmt::format_to(std::back_inserter(out), "{},{},{},{},{},{},{},{}\n", r.time, r.instance,
                   info.instances[static_cast<std::size_t>(r.instance)].pool, to_string(r.event), fleet.up(), fleet.serving(),
                   r.seconds, r.weight_bytes);
  }
  return out;
}

}  // namespace hetsim::sim
