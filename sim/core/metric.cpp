#include "sim/core/metric.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace hetsim::metrics {

const char* to_string(Scope s) {
  switch (s) {
    case Scope::request: return "request";
    case Scope::step: return "step";
    case Scope::instance: return "instance";
    case Scope::pool: return "pool";
    case Scope::run: return "run";
  }
  return "?";
}

const char* to_string(Type t) {
  switch (t) {
    case Type::integer: return "integer";
    case Type::real: return "real";
    case Type::text: return "text";
    case Type::json: return "json";
  }
  return "?";
}

const char* to_string(Agg a) {
  switch (a) {
    case Agg::value: return "value";
    case Agg::sum: return "sum";
    case Agg::max: return "max";
    case Agg::mean: return "mean";
    case Agg::time_mean: return "time_mean";
    case Agg::distribution: return "distribution";
  }
  return "?";
}

namespace {
/// The scope an aggregate of a `scope` metric is taken over.
Scope source_scope(Scope scope, Agg agg) {
  if (agg == Agg::distribution) return Scope::request;
  return scope == Scope::instance ? Scope::step : Scope::instance;
}
}  // namespace

std::uint32_t Catalog::find(Scope scope, const std::string& name) const {
  for (std::size_t i = 0; i < metrics_.size(); ++i)
    if (metrics_[i].scope == scope && metrics_[i].name == name) return static_cast<std::uint32_t>(i);
  return UINT32_MAX;
}

std::uint32_t Catalog::slot_of(MetricId id) const {
  const auto it = std::find(step_slots_.begin(), step_slots_.end(), id.index);
  if (it == step_slots_.end()) throw std::logic_error(fmt::format("metric {} is not a step metric", id.index));
  return static_cast<std::uint32_t>(it - step_slots_.begin());
}

void Catalog::add_table_line(const std::string& line) {
  if (std::find(table_lines_.begin(), table_lines_.end(), line) == table_lines_.end()) table_lines_.push_back(line);
}

MetricId Catalog::add(Metric m) {
  auto fail = [&](const std::string& why) {
    throw std::logic_error(fmt::format("metric declaration '{}' ({}): {}", m.name, to_string(m.scope), why));
  };
  if (m.name.empty()) fail("empty name");
  if (find(m.scope, m.name) != UINT32_MAX) fail("declared twice");
  if (m.agg != Agg::value) {
    const Scope src = source_scope(m.scope, m.agg);
    if (m.from.empty() || find(src, m.from) == UINT32_MAX)
      fail(fmt::format("aggregates '{}', which is not a declared {} metric", m.from, to_string(src)));
    if (m.agg == Agg::time_mean && m.scope != Scope::instance) fail("time_mean aggregates steps into instances");
    if (m.agg == Agg::mean && m.scope == Scope::instance) fail("mean aggregates instances");
    if (m.agg == Agg::distribution && m.scope != Scope::run && m.scope != Scope::pool)
      fail("distributions are run or pool metrics");
  }
  if (!m.per.empty() && find(Scope::instance, m.per) == UINT32_MAX)
    fail(fmt::format("per = '{}' is not a declared instance metric", m.per));
  if (!m.column.empty() && m.scope != Scope::step) fail("only step metrics have a steps.csv column");
  if (!m.sweep.empty() && m.scope != Scope::run) fail("only run metrics have a sweep column");
  if (!m.at_most.empty() && m.scope != Scope::step) fail("only step metrics are bounded by another");
  if (m.timeline && m.scope != Scope::step) fail("only step metrics are timeline arguments");
  if (!m.table.line.empty() && m.scope != Scope::run) fail("only run metrics appear in the printed table");
  if (!m.table.line.empty() && m.agg != Agg::distribution) add_table_line(m.table.line);
  const auto index = static_cast<std::uint32_t>(metrics_.size());
  if (m.scope == Scope::step) step_slots_.push_back(index);
  metrics_.push_back(std::move(m));
  return {index};
}

Catalog& catalog() {
  static Catalog c;
  return c;
}

MetricId declare(Metric m) {
  if (m.scope == Scope::step) return declare_step(std::move(m));
  return catalog().add(std::move(m));
}

std::string window_column(const Metric& m) {
  return m.window == Agg::max ? m.column + "_max" : m.window == Agg::time_mean ? m.column + "_mean" : m.column;
}

StepMetric declare_step(Metric m) {
  if (m.window != Agg::sum && m.window != Agg::max && m.window != Agg::time_mean)
    throw std::logic_error(fmt::format("step metric {}: windows aggregate by sum, max or time_mean", m.name));
  m.scope = Scope::step;
  InstanceAggregate agg = m.instance;
  Metric step = m;
  step.instance = {};
  const MetricId id = catalog().add(step);
  if (agg.agg != Agg::value) {
    Metric inst;
    inst.name = agg.key;
    inst.scope = Scope::instance;
    const bool fraction = agg.agg == Agg::time_mean || !agg.per.empty();
    inst.type = fraction ? Type::real : m.type;
    inst.unit = agg.per.empty() ? m.unit : "1";
    inst.description = fmt::format("{} of {} per instance{}", to_string(agg.agg), m.name,
                                   agg.per.empty() ? "" : fmt::format(", as a fraction of {}", agg.per));
    inst.agg = agg.agg;
    inst.from = m.name;
    inst.per = agg.per;
    inst.key = agg.key;
    inst.only_with = m.only_with;
    catalog().add(std::move(inst));
  }
  return {id.index, catalog().slot_of(id)};
}

bool declare_table_line(const std::string& line) {
  catalog().add_table_line(line);
  return true;
}

ActiveSet::ActiveSet(const std::vector<std::string>& features) : features_(features) {
  const auto& all = catalog().all();
  on_.resize(all.size());
  for (std::size_t i = 0; i < all.size(); ++i) on_[i] = all[i].only_with.empty() || has_feature(all[i].only_with);
}

bool ActiveSet::has_feature(const std::string& f) const {
  return std::find(features_.begin(), features_.end(), f) != features_.end();
}

}  // namespace hetsim::metrics
