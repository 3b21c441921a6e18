#include <fmt/format.h>

#include <cmath>
#include <numeric>

#include "sim/core/catalog.hpp"
#include "sim/training/failure_process.hpp"

namespace hetsim::training {

double FailureRates::per_gpu_hour() const {
  return std::accumulate(causes.begin(), causes.end(), 0.0, [](double s, const FailureCause& c) { return s + c.per_gpu_hour; });
}

namespace {

/// `causes` with `observed` (a study's counts over GPUs x days) or per-GPU-hour rates.
FailureRates parse_rates(const config::Node& node) {
  FailureRates r;
  r.name = node.get<std::string>("name").default_to("inline").value();
  double gpu_hours = 0;
  if (auto observed = node.maybe("observed")) {
    const double gpus = observed->get<double>("gpus").at_least(1.0).value();
    const double days = observed->get<double>("days").value();
    if (!(days > 0) || !std::isfinite(days)) observed->fail_key("days", observed->child("days").shown(), "expected days > 0");
    gpu_hours = gpus * days * 24;
  }
  const config::Node causes = node.child("causes");
  // items() once: it records the list read into resolved.yaml.
  const auto items = causes.is_sequence() ? causes.items() : std::vector<config::Node>{};
  if (items.empty())
    causes.fail(fmt::format("causes: {}: expected a list of {{name, count or per_gpu_hour, replaces_node}}", causes.shown()));
  for (const auto& c : items) {
    FailureCause cause;
    cause.name = c.get<std::string>("name").value();
    if (c.has("count")) {
      if (gpu_hours <= 0) c.fail_key("count", c.child("count").shown(), "a count needs observed: {gpus, days} beside causes");
      cause.per_gpu_hour = c.get<double>("count").at_least(0.0).value() / gpu_hours;
    } else {
      cause.per_gpu_hour = c.get<double>("per_gpu_hour").at_least(0.0).value();
    }
    cause.replaces_node = c.get<bool>("replaces_node").default_to(true);
    r.causes.push_back(std::move(cause));
  }
  if (!(r.per_gpu_hour() > 0)) causes.fail("every cause has rate 0: expected at least one cause that happens");
  return r;
}

}  // namespace

FailureRates load_failure_rates(const config::Node& policy) {
  const config::Node given = policy.child("rates");
  if (given.is_scalar() || given.has("preset")) {
    auto layered = catalog::with_preset(policy, "rates", "hw/failures");
    FailureRates r = parse_rates(layered.node);
    layered.preset.check_unknown_keys();
    r.source = fmt::format("hw/failures/{}.yaml", given.is_scalar() ? given.scalar() : given.get<std::string>("preset").value());
    return r;
  }
  FailureRates r = parse_rates(given);
  r.source = "inline";
  return r;
}

}  // namespace hetsim::training
