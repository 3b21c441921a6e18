#include "sweep/spec.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <regex>

#include "sim/core/error.hpp"
#include "sim/core/rng.hpp"
#include "sweep/points_table.hpp"

namespace hetsim::sweep {
namespace fs = std::filesystem;

std::optional<std::vector<std::string>> expand_range(const std::string& text) {
  static const std::regex form(R"(\s*range\s*\((.*)\)\s*)");
  std::smatch m;
  if (!std::regex_match(text, m, form)) return std::nullopt;
  std::vector<std::string> args;
  std::string inner = m[1].str();
  std::size_t start = 0;
  while (true) {
    const auto comma = inner.find(',', start);
    args.push_back(inner.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (args.size() < 2 || args.size() > 3) throw InputError("expected range(start, stop) or range(start, stop, step)");
  std::vector<double> v;
  bool integral = true;
  for (auto& a : args) {
    double x = 0;
    a.erase(0, a.find_first_not_of(' '));
    a.erase(a.find_last_not_of(' ') + 1);
    if (!config::detail::convert(a, x)) throw InputError(fmt::format("range argument \"{}\" is not a number", a));
    if (!std::isfinite(x)) throw InputError(fmt::format("range argument \"{}\" is not finite", a));
    integral = integral && a.find_first_of(".eE") == std::string::npos;
    v.push_back(x);
  }
  const double step = v.size() == 3 ? v[2] : 1.0;
  if (step == 0) throw InputError("range step must not be 0");
  std::vector<std::string> out;
  const double n = std::ceil((v[1] - v[0]) / step - 1e-9);
  if (n > 100000) throw InputError("range has more than 100000 values");
  if (!(n >= 1)) throw InputError("range is empty");  // also NaN (e.g. inf - inf): no cast of it to long
  for (long i = 0; i < static_cast<long>(n); ++i) {
    const double x = v[0] + static_cast<double>(i) * step;
    out.push_back(integral ? fmt::format("{}", static_cast<long long>(std::llround(x))) : fmt::format("{}", x));
  }
  if (out.empty()) throw InputError("range is empty");
  return out;
}

namespace {

Axis parse_axis(const config::Node& axes, const std::string& key) {
  Axis axis;
  axis.key = key;
  const config::Node values = axes.child(key);
  const std::string where = values.where();
  if (values.is_sequence()) {
    const auto items = values.items();
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is_scalar()) items[i].fail("expected a single value");
      axis.values.push_back(items[i].scalar());
      axis.origins.push_back(fmt::format("{}: axes.{}[{}]", items[i].where(), key, i));
    }
  } else if (values.is_scalar()) {
    try {
      auto range = expand_range(values.scalar());
      if (!range) values.fail(fmt::format("\"{}\": expected a list of values or range(start, stop[, step])", values.scalar()));
      axis.values = *range;
    } catch (const InputError& e) {
      if (std::string(e.what()).find(where) == 0) throw;
      values.fail(fmt::format("\"{}\": {}", values.scalar(), e.what()));
    }
    for (std::size_t i = 0; i < axis.values.size(); ++i)
      axis.origins.push_back(fmt::format("{}: axes.{} value {}", where, key, axis.values[i]));
  } else {
    values.fail("expected a list of values or range(start, stop[, step])");
  }
  if (axis.values.empty()) values.fail("expected at least one value");
  return axis;
}

SloTarget parse_slo_target(const config::Node& slo, const std::string& key) {
  SloTarget t;
  t.label = key;
  if (key == "attainment") {
    // DistServe's goodput: the share of requests meeting every SLO of the scenario's `slo`.
    t.metric = key;
    t.limit = slo.get<double>(key).in_range(1e-6, 1.0);
    return t;
  }
  const auto underscore = key.rfind('_');
  if (underscore != std::string::npos) {
    t.metric = key.substr(0, underscore);
    t.statistic = key.substr(underscore + 1);
  }
  const bool metric_ok = t.metric == "ttft" || t.metric == "tpot" || t.metric == "e2e" || t.metric == "queue";
  const bool stat_ok = t.statistic == "p50" || t.statistic == "p90" || t.statistic == "p99" || t.statistic == "mean";
  if (!metric_ok || !stat_ok)
    slo.fail_key(key, "", "expected <ttft|tpot|e2e|queue>_<p50|p90|p99|mean>, e.g. ttft_p90: 1 s, or attainment: 0.9");
  t.limit = slo.quantity(key, units::Dim::time).positive();
  return t;
}

std::vector<Point> expand(const Spec& spec, const config::Node& root) {
  std::vector<std::vector<std::size_t>> combos;
  if (spec.axes.empty()) {
    combos.push_back({});
  } else if (spec.mode == "zip") {
    const std::size_t n = spec.axes.front().values.size();
    for (const auto& a : spec.axes)
      if (a.values.size() != n)
        root.child("axes").fail(fmt::format("mode zip needs axes of equal length; {} has {} values, {} has {}",
                                            spec.axes.front().key, n, a.key, a.values.size()));
    for (std::size_t i = 0; i < n; ++i) combos.push_back(std::vector<std::size_t>(spec.axes.size(), i));
  } else {
    // Grid: point n is n written in the mixed radix of the axis sizes, the last axis varying fastest.
    std::size_t total = 1;
    for (const auto& a : spec.axes) {
      total *= a.values.size();
      if (total > 1000000) root.child("axes").fail("the grid has more than 1,000,000 points; use sample: {count: N}");
    }
    for (std::size_t n = 0; n < total; ++n) {
      std::vector<std::size_t> idx(spec.axes.size());
      std::size_t rest = n;
      for (std::size_t k = spec.axes.size(); k-- > 0;) {
        idx[k] = rest % spec.axes[k].values.size();
        rest /= spec.axes[k].values.size();
      }
      combos.push_back(std::move(idx));
    }
  }
  if (const auto sample = root.maybe("sample")) {
    const auto count = sample->get<std::int64_t>("count").in_range(1, 1 << 30).value();
    const auto seed = sample->get<unsigned long>("seed").default_to(1).value();
    if (count < static_cast<std::int64_t>(combos.size())) {
      // Partial Fisher-Yates on indices, then back to sweep order.
      std::vector<std::size_t> order(combos.size());
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
      Rng rng(seed, "sweep.sample");
      for (std::int64_t i = 0; i < count; ++i) {
        const auto j = static_cast<std::size_t>(rng.uniform_int(i, static_cast<std::int64_t>(order.size()) - 1));
        std::swap(order[static_cast<std::size_t>(i)], order[j]);
      }
      order.resize(static_cast<std::size_t>(count));
      std::sort(order.begin(), order.end());
      std::vector<std::vector<std::size_t>> kept;
      for (auto i : order) kept.push_back(combos[i]);
      combos = std::move(kept);
    }
  }
  std::vector<Point> points;
  for (std::size_t p = 0; p < combos.size(); ++p) {
    Point point;
    point.name = fmt::format("p{:04d}", p);
    for (std::size_t a = 0; a < spec.axes.size(); ++a) {
      const auto& axis = spec.axes[a];
      point.params.push_back({axis.key, axis.values[combos[p][a]], axis.origins[combos[p][a]]});
    }
    points.push_back(std::move(point));
  }
  return points;
}

}  // namespace

Spec Spec::load(const std::string& path) {
  auto doc = config::Document::load_file(path);
  const config::Node root = doc.root();
  Spec spec;
  spec.file = path;
  spec.base = root.file_path("base");
  spec.mode = root.get<std::string>("mode").default_to("grid").one_of({"grid", "zip"});
  if (auto axes = root.maybe("axes")) {
    if (!axes->is_map()) axes->fail("expected a map of key path -> values");
    for (const auto& key : axes->keys()) spec.axes.push_back(parse_axis(*axes, key));
  }
  if (auto set = root.maybe("set")) {
    if (!set->is_map()) set->fail("expected a map of key path -> value");
    for (const auto& key : set->keys()) {
      const auto value = set->child(key);
      if (!value.is_scalar()) value.fail("expected a single value");
      spec.fixed.push_back({key, value.scalar(), fmt::format("{}: set.{}", value.where(), key)});
    }
  }
  if (auto search = root.maybe("search")) {
    Search s;
    s.origin = search->where();
    s.axis = search->get<std::string>("axis").default_to("workload.arrival.rate");
    s.lo = search->get<double>("lo").in_range(1e-9, 1e9);
    s.hi = search->get<double>("hi").in_range(s.lo, 1e9);
    s.tolerance = search->get<double>("tolerance").default_to(0.05).in_range(1e-4, 1.0);
    const auto slo = search->child("slo");
    for (const auto& key : slo.keys()) s.slo.push_back(parse_slo_target(slo, key));
    if (s.slo.empty()) slo.fail("expected at least one target such as ttft_p90: 1 s");
    if (search->has("target_rate")) s.target_rate = search->get<double>("target_rate").in_range(1e-9, 1e9).value();
    for (const auto& a : spec.axes)
      if (a.key == s.axis)
        search->fail_key("axis", s.axis, "the searched key must not also be a sweep axis");
    spec.search = s;
  }
  if (auto best = root.maybe("best")) {
    Objective o;
    o.origin = best->where();
    const bool maximize = best->has("maximize"), minimize = best->has("minimize");
    if (maximize == minimize) best->fail("expected exactly one of maximize: COLUMN or minimize: COLUMN");
    const char* key = maximize ? "maximize" : "minimize";
    o.maximize = maximize;
    o.column = best->get<std::string>(key).value();
    const auto& columns = metric_columns();
    if (std::find(columns.begin(), columns.end(), o.column) == columns.end()) {
      std::string list;
      for (const auto& c : columns) list += (list.empty() ? "" : ", ") + c;
      best->fail_key(key, o.column, "expected a points.csv metric column: " + list);
    }
    if (spec.search) best->fail("best: reports a point of a plain sweep; a search reports its own (max_rate.csv)");
    spec.best = o;
  }
  spec.points = expand(spec, root);
  doc.check_unknown_keys();
  return spec;
}

}  // namespace hetsim::sweep
