// Autoscaling after Knative's KPA (the Pod Autoscaler KServe and AIBrix run LLM services on):
// every `interval` it sums a load signal over each pool's provisioned instances, averages the sum
// over a stable window and a short panic window, and wants ceil(average / target) instances.
// When the panic window's want reaches panic_threshold x the instances ready, it panics: it
// follows the panic window and never scales down until a stable window has passed calmly. Going
// down, it keeps the most wanted over scale_down_delay; one look changes the count by at most
// x max_scale_up_rate up and / max_scale_down_rate down; always within [min, max].
// Scaling up revives draining instances first (nothing to load), then starts stopped ones: each
// loads its weights over the platform's links from `cold_start` and starts its engine before
// routers see it. Scaling down drains the active instances with the fewest requests: no new work,
// what they hold finishes (or a migrate_drain controller moves it), then they are released.
//   target: per instance, required (concurrency: requests in flight; kv_utilization: 0-1)
//   metric: concurrency | kv_utilization   (Knative's default signal; AIBrix's gpu_cache_usage)
//   pools: [NAME, ...]  the pools it scales, each on its own (default: every pool)
//   min: 1, max: the pool's instances, initial: min   per pool
//   interval: 2 s, stable_window: 60 s, panic_window: 6 s, panic_threshold: 2.0,
//   scale_down_delay: 0 s, max_scale_up_rate: 1000, max_scale_down_rate: 2
//       (Knative Serving's defaults: config/core/configmaps/autoscaler.yaml: tick-interval 2s,
//       stable-window 60s, panic-window-percentage 10, panic-threshold-percentage 200,
//       scale-down-delay 0s, max-scale-up-rate 1000, max-scale-down-rate 2)
//   cold_start: where weights come from and what the engine then takes:
//       {tier: NAME}   a tier of the instance's node (default: its first DRAM tier, i.e. weights
//                      in the host's page cache; nvme0 for a local SSD)
//       {store: NAME}  a storage node of cluster.kv_stores, over the NICs and the fabric
//       {peer: true}   an active instance of the same pool, GPU to GPU (BlitzScale)
//       startup: 34 s  engine start-up after the weights: profiling, KV allocation, warm-up and
//                      CUDA-graph capture (vLLM issue #20264's log: "init engine (profile, create
//                      kv cache, warmup model) took 34.11 seconds")
//       loader_bandwidth: none   the loader's own rate per rank (vLLM's safetensors loader reads
//                      about 1-2 GiB/s from NVMe, the Run:ai streamer 2-5 GiB/s: Run:ai model
//                      streamer benchmarks, docs/src/benchmarks.md)
#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <optional>

#include "sim/core/registry.hpp"
#include "sim/core/units.hpp"
#include "sim/serving/controller.hpp"

namespace hetsim::policies {
namespace {

using serving::InstanceState;

/// A signal sampled at every look, averaged over the samples of the last `window` seconds.
class WindowAverage {
 public:
  void add(double t, double v) { samples_.push_back({t, v}); }
  double mean(double now, double window) {
    while (!samples_.empty() && samples_.front().first <= now - longest_) samples_.pop_front();
    double sum = 0;
    int n = 0;
    for (const auto& [t, v] : samples_)
      if (t > now - window) sum += v, ++n;
    return n ? sum / n : 0.0;
  }
  void keep(double longest) { longest_ = longest; }

 private:
  std::deque<std::pair<double, double>> samples_;
  double longest_ = 0;
};

class Autoscale final : public Controller {
 public:
  explicit Autoscale(const config::Node& cfg)
      : cfg_(cfg),
        kv_metric_(cfg.get<std::string>("metric").default_to("concurrency").one_of({"concurrency", "kv_utilization"}).value() ==
                   "kv_utilization"),
        target_(cfg.get<double>("target").required()),
        min_(cfg.get<int>("min").default_to(1).in_range(1, 1 << 20)),
        interval_(cfg.quantity("interval", units::Dim::time).default_to("2 s").positive()),
        stable_(cfg.quantity("stable_window", units::Dim::time).default_to("60 s").positive()),
        panic_(cfg.quantity("panic_window", units::Dim::time).default_to("6 s").positive()),
        panic_threshold_(cfg.get<double>("panic_threshold").default_to(2.0).in_range(1.1, 10.0)),
        down_delay_(cfg.quantity("scale_down_delay", units::Dim::time).default_to("0 s").non_negative()),
        up_rate_(cfg.get<double>("max_scale_up_rate").default_to(1000.0).in_range(1.0, 1e6)),
        down_rate_(cfg.get<double>("max_scale_down_rate").default_to(2.0).in_range(1.0, 1e6)) {
    if (!(target_ > 0) || (kv_metric_ && target_ > 1))
      cfg.fail_key("target", fmt::format("{:g}", target_), kv_metric_ ? "a KV utilisation in (0, 1]" : "requests in flight per instance, > 0");
    if (cfg.has("max")) max_ = cfg.get<int>("max").in_range(min_, 1 << 20);
    initial_ = cfg.get<int>("initial").default_to(min_).in_range(min_, max_.value_or(1 << 20));
    if (interval_ < 1e-3) cfg.fail_key("interval", fmt::format("{:g} s", interval_), "at least 1 ms");
    if (panic_ > stable_) cfg.fail_key("panic_window", fmt::format("{:g} s", panic_), fmt::format("at most the stable window ({:g} s)", stable_));
    if (auto pools = cfg.maybe("pools"))
      for (const config::Node& p : pools->items()) pool_names_.push_back(p.scalar());
    const config::Node cold = cfg.section("cold_start");
    const int given = cold.has("tier") + cold.has("store") + cold.has("peer");
    if (given > 1) cold.fail_key("tier", "<several>", "one of tier, store or peer");
    using Kind = serving::ClusterFacade::WeightSource::Kind;
    if (cold.has("store")) {
      source_.kind = Kind::store;
      source_.name = cold.get<std::string>("store").value();
    } else if (cold.has("peer")) {
      if (!cold.get<bool>("peer").value()) cold.fail_key("peer", "false", "true, or tier or store instead");
      source_.kind = Kind::peer;
    } else {
      source_.name = cold.get<std::string>("tier").default_to("").value();
    }
    source_.startup = cold.quantity("startup", units::Dim::time).default_to("34 s").non_negative();
    source_.loader_bandwidth = cold.has("loader_bandwidth") ? cold.quantity("loader_bandwidth", units::Dim::bandwidth).positive() : 0.0;
  }

  bool scales() const override { return true; }
  bool acts_only_in_timers() const override { return true; }

  void attach(serving::ClusterFacade& cluster) override {
    cluster_ = &cluster;
    // Pools in order of first appearance; the ones asked for must exist.
    std::map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < cluster.instances(); ++i) {
      auto [it, added] = index.try_emplace(cluster.pool(i), pools_.size());
      if (added) pools_.push_back({.name = cluster.pool(i)});
      pools_[it->second].members.push_back(i);
    }
    for (const std::string& name : pool_names_)
      if (!index.count(name)) {
        std::string names;
        for (const Pool& p : pools_) names += fmt::format("{}{}", names.empty() ? "" : ", ", p.name);
        cfg_.fail_key("pools", name, fmt::format("one of the run's pools: {}", names));
      }
    for (Pool& p : pools_) {
      p.scaled = pool_names_.empty() || std::find(pool_names_.begin(), pool_names_.end(), p.name) != pool_names_.end();
      if (!p.scaled) continue;
      const int size = static_cast<int>(p.members.size());
      if (min_ > size) cfg_.fail_key("min", std::to_string(min_), fmt::format("at most the {} instances of pool '{}'", size, p.name));
      if (max_ && *max_ > size) cfg_.fail_key("max", std::to_string(*max_), fmt::format("at most the {} instances of pool '{}'", size, p.name));
      if (initial_ > size) cfg_.fail_key("initial", std::to_string(initial_), fmt::format("at most the {} instances of pool '{}'", size, p.name));
      p.max = max_.value_or(size);
      const std::string problem = cluster.weight_source_problem(source_, p.members.front());
      if (!problem.empty()) cfg_.section("cold_start").fail_key(source_key(), source_.name, problem);
      p.signal.keep(std::max(stable_, panic_));
      // Beyond the initial count, instances start stopped (the highest indices).
      for (std::size_t k = static_cast<std::size_t>(initial_); k < p.members.size(); ++k) cluster.stop_instance(p.members[k]);
    }
    cluster.set_timer(interval_, [this] { tick(); });
  }

 private:
  struct Pool {
    std::string name;
    std::vector<std::size_t> members;
    bool scaled = false;
    int max = 0;
    WindowAverage signal;
    std::optional<double> panicking_since;
    int panic_want = 0;  ///< the most wanted while panicking
    std::deque<std::pair<double, int>> wants;  ///< recent wants (scale_down_delay)
  };

  const char* source_key() const {
    using Kind = serving::ClusterFacade::WeightSource::Kind;
    return source_.kind == Kind::store ? "store" : source_.kind == Kind::peer ? "peer" : "tier";
  }

  void tick() {
    for (Pool& p : pools_)
      if (p.scaled) look(p);
    if (!cluster_->winding_down()) cluster_->set_timer(cluster_->now() + interval_, [this] { tick(); });
  }

  void look(Pool& p) {
    const double now = cluster_->now();
    double total = 0;
    int ready = 0, committed = 0;  // active; active or starting
    for (std::size_t i : p.members) {
      const InstanceState s = cluster_->state(i);
      if (s == InstanceState::stopped) continue;
      const ReplicaLoad l = cluster_->load(i);
      total += kv_metric_ ? kv_utilization(l) : static_cast<double>(l.outstanding);
      ready += s == InstanceState::active;
      committed += s == InstanceState::active || s == InstanceState::starting;
    }
    p.signal.add(now, total);
    const int stable_want = static_cast<int>(std::ceil(p.signal.mean(now, stable_) / target_ - 1e-9));
    const int panic_want = static_cast<int>(std::ceil(p.signal.mean(now, panic_) / target_ - 1e-9));
    // Knative: panic when the panic window wants panic_threshold x the ready instances; leave it
    // once a stable window has passed since the condition last held.
    if (panic_want >= panic_threshold_ * std::max(ready, 1)) {
      if (!p.panicking_since) p.panic_want = 0;
      p.panicking_since = now;
    } else if (p.panicking_since && now - *p.panicking_since >= stable_) {
      p.panicking_since.reset();
    }
    int want = stable_want;
    if (p.panicking_since) want = p.panic_want = std::max({p.panic_want, panic_want, committed});
    // Scale-down delay: the most wanted over the last delay.
    p.wants.push_back({now, want});
    while (!p.wants.empty() && p.wants.front().first < now - down_delay_) p.wants.pop_front();
    for (const auto& [t, w] : p.wants) want = std::max(want, w);
    const int base = std::max(ready, 1);
    want = std::min(want, static_cast<int>(std::ceil(base * up_rate_)));
    want = std::max(want, static_cast<int>(std::floor(base / down_rate_)));
    want = std::clamp(want, min_, p.max);
    if (want > committed) grow(p, want - committed);
    if (want < committed) shrink(p, committed - want);
  }

  void grow(Pool& p, int n) {
    // Draining instances first: they come back at once.
    for (const InstanceState from : {InstanceState::draining, InstanceState::stopped})
      for (std::size_t i : p.members)
        if (n > 0 && cluster_->state(i) == from && cluster_->start_instance(i, source_)) --n;
  }

  void shrink(Pool& p, int n) {
    // The active instances holding the fewest requests (ties: the highest index) drain.
    std::vector<std::pair<std::int64_t, std::size_t>> active;
    for (std::size_t i : p.members)
      if (cluster_->state(i) == InstanceState::active) active.push_back({cluster_->load(i).outstanding, i});
    std::sort(active.begin(), active.end(), [](const auto& a, const auto& b) { return a.first != b.first ? a.first < b.first : a.second > b.second; });
    for (std::size_t k = 0; k < active.size() && n > 0 && static_cast<int>(active.size() - k) > min_; ++k)
      if (cluster_->stop_instance(active[k].second)) --n;
  }

  config::Node cfg_;
  bool kv_metric_;
  double target_;
  int min_;
  std::optional<int> max_;
  int initial_ = 1;
  double interval_, stable_, panic_, panic_threshold_, down_delay_, up_rate_, down_rate_;
  std::vector<std::string> pool_names_;
  serving::ClusterFacade::WeightSource source_;
  serving::ClusterFacade* cluster_ = nullptr;
  std::vector<Pool> pools_;
};

}  // namespace
HETSIM_REGISTER(Controller, Autoscale, "autoscale",
                "Knative-style autoscaler: instances per pool from a windowed load signal; cold starts load weights over the platform");
}  // namespace hetsim::policies
