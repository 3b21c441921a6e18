#include "calibrate/fit.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <optional>

#include "sim/core/config.hpp"
#include "sim/core/io/csv.hpp"
#include "hw/cost_model.hpp"
#include <fmt/format.h>
#include <array>
#include <limits>
#include <map>
#include <tuple>

#include "calibrate/vidur_import.hpp"

namespace hetsim::calibrate {
namespace {

struct Line {
  double slope = 0, intercept = 0;
  double at(double x) const { return slope * x + intercept; }
};

/// Weighted least squares t ~ slope * x + intercept with weights 1/t^2; intercept >= 0.
std::optional<Line> fit_line(const std::vector<double>& x, const std::vector<double>& t) {
  if (x.size() < 2 || *std::max_element(x.begin(), x.end()) <= *std::min_element(x.begin(), x.end())) return std::nullopt;
  const auto n = static_cast<Eigen::Index>(x.size());
  Eigen::MatrixXd a(n, 2);
  Eigen::VectorXd y(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    const double w = 1.0 / t[static_cast<std::size_t>(i)];  // sqrt of the 1/t^2 weight
    a(i, 0) = x[static_cast<std::size_t>(i)] * w;
    a(i, 1) = w;
    y(i) = 1.0;  // t * w
  }
  Eigen::Vector2d sol = a.colPivHouseholderQr().solve(y);
  Line line{sol(0), sol(1)};
  if (line.intercept < 0) {  // a kernel cannot take negative time at zero work: refit through 0
    const Eigen::VectorXd col = a.col(0);
    line = {col.dot(y) / col.squaredNorm(), 0.0};
  }
  if (!(line.slope > 0) || !std::isfinite(line.slope)) return std::nullopt;
  return line;
}

enum class Regime { compute, memory };

struct Pieces {
  std::optional<Line> compute, memory;
};

Pieces fit_pieces(const std::vector<const Measurement*>& ms, const Peaks& peaks, bool collective) {
  Pieces p;
  if (collective) {
    std::vector<double> x, t;
    for (auto* m : ms) x.push_back(m->bytes), t.push_back(m->seconds);
    p.memory = fit_line(x, t);
    return p;
  }
  // Start from the roofline's verdict, then alternate assignment and fitting.
  std::vector<Regime> regime;
  for (auto* m : ms) regime.push_back(m->flops / peaks.flops > m->bytes / peaks.bandwidth ? Regime::compute : Regime::memory);
  for (int iter = 0; iter < 50; ++iter) {
    std::vector<double> xc, tc, xm, tm;
    for (std::size_t i = 0; i < ms.size(); ++i) {
      if (regime[i] == Regime::compute) xc.push_back(ms[i]->flops), tc.push_back(ms[i]->seconds);
      else xm.push_back(ms[i]->bytes), tm.push_back(ms[i]->seconds);
    }
    p.compute = fit_line(xc, tc);
    p.memory = fit_line(xm, tm);
    bool changed = false;
    for (std::size_t i = 0; i < ms.size(); ++i) {
      const double c = p.compute ? p.compute->at(ms[i]->flops) : -1;
      const double m = p.memory ? p.memory->at(ms[i]->bytes) : -1;
      const Regime r = c >= m ? Regime::compute : Regime::memory;
      if ((p.compute || p.memory) && r != regime[i]) regime[i] = r, changed = true;
    }
    if (!changed) break;
  }
  return p;
}

hw::ClassFit to_fit(const Pieces& p, const Peaks& peaks, const hw::Efficiency& fallback, bool collective) {
  hw::ClassFit fit;
  fit.efficiency = fallback;
  if (p.compute && !collective) {
    fit.has_compute = true;
    fit.efficiency.compute = std::clamp(1.0 / (p.compute->slope * peaks.flops), 1e-4, 1.0);
    fit.efficiency.compute_half = p.compute->intercept / p.compute->slope;
  }
  if (p.memory) {
    fit.has_memory = true;
    fit.efficiency.memory = std::clamp(1.0 / (p.memory->slope * peaks.bandwidth), 1e-4, 1.0);
    fit.efficiency.memory_half = p.memory->intercept / p.memory->slope;
  }
  return fit;
}


/// Levenberg-Marquardt fit of the blended roofline t = (t_c^p + t_m^p)^(1/p), t_c = a F + b,
/// t_m = c B + d, to log times (relative error). a >= 1/peak and c >= 1/bandwidth by construction
/// (a = (1 + e^x) / peak), so no fitted kernel can beat its roofline; b, d >= 0.
hw::Efficiency fit_blended(const std::vector<const Measurement*>& ms, const Peaks& peaks, double p, const hw::Efficiency& init) {
  auto inv_softplus_gap = [](double ratio) { return std::log(std::max(ratio - 1.0, 1e-6)); };  // ratio = a * peak
  Eigen::Vector4d x;
  x(0) = inv_softplus_gap(1.0 / init.compute);
  x(1) = std::log(std::max(init.compute_half / (peaks.flops * init.compute), 1e-9));
  x(2) = inv_softplus_gap(1.0 / init.memory);
  x(3) = std::log(std::max(init.memory_half / (peaks.bandwidth * init.memory), 1e-9));
  auto params = [&](const Eigen::Vector4d& v) {
    return std::array<double, 4>{(1 + std::exp(v(0))) / peaks.flops, std::exp(v(1)), (1 + std::exp(v(2))) / peaks.bandwidth,
                                 std::exp(v(3))};
  };
  auto cost = [&](const Eigen::Vector4d& v, Eigen::Matrix4d* jtj, Eigen::Vector4d* jtr) {
    const auto [a, b, c, d] = params(v);
    double sum = 0;
    if (jtj) jtj->setZero(), jtr->setZero();
    for (const Measurement* m : ms) {
      const double tc = a * m->flops + b, tm = c * m->bytes + d;
      const double t = std::pow(std::pow(tc, p) + std::pow(tm, p), 1.0 / p);
      const double r = std::log(t / m->seconds);
      sum += r * r;
      if (!jtj) continue;
      const double gc = std::pow(tc / t, p - 1) / t, gm = std::pow(tm / t, p - 1) / t;  // d log t / d t_c, d t_m
      const Eigen::Vector4d j(gc * m->flops * (a - 1 / peaks.flops), gc * b, gm * m->bytes * (c - 1 / peaks.bandwidth), gm * d);
      *jtj += j * j.transpose();
      *jtr += j * r;
    }
    return sum;
  };
  double lambda = 1e-3;
  Eigen::Matrix4d jtj;
  Eigen::Vector4d jtr;
  double current = cost(x, &jtj, &jtr);
  for (int iter = 0; iter < 200 && lambda < 1e12; ++iter) {
    Eigen::Matrix4d damped = jtj;
    for (int i = 0; i < 4; ++i) damped(i, i) += lambda * (jtj(i, i) + 1e-12);
    const Eigen::Vector4d step = damped.ldlt().solve(-jtr);
    const Eigen::Vector4d trial = x + step;
    const double next = cost(trial, nullptr, nullptr);
    if (std::isfinite(next) && next < current) {
      const bool converged = current - next < 1e-10 * current;
      x = trial, current = next, lambda /= 3;
      cost(x, &jtj, &jtr);
      if (converged) break;
    } else {
      lambda *= 4;
    }
  }
  const auto [a, b, c, d] = params(x);
  hw::Efficiency e = init;
  e.compute = 1.0 / (a * peaks.flops);
  e.compute_half = b / a;
  e.memory = 1.0 / (c * peaks.bandwidth);
  e.memory_half = d / c;
  e.blend = p;
  return e;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

/// Median relative error of `e` on `ms`.
double median_error(const std::vector<const Measurement*>& ms, const hw::Efficiency& e, const Peaks& peaks) {
  std::vector<double> errors;
  for (auto* m : ms) errors.push_back(std::abs(predict(*m, e, peaks) - m->seconds) / m->seconds);
  return median(std::move(errors));
}

/// The whole fitting procedure on `ms`: the max-affine roofline fit, then (compute classes with both
/// regimes) the blended form for each candidate exponent; keeps what fits `ms` best.
hw::ClassFit fit_procedure(const std::vector<const Measurement*>& ms, const Peaks& peaks, const hw::Efficiency& fallback,
                           bool collective, bool blend) {
  hw::ClassFit fit = to_fit(fit_pieces(ms, peaks, collective), peaks, fallback, collective);
  if (collective || !blend || ms.size() < 8) return fit;
  const double roofline_error = median_error(ms, fit.efficiency, peaks);
  hw::Efficiency init = fit.efficiency;
  if (!fit.has_compute) init.compute = 0.5, init.compute_half = 0;
  if (!fit.has_memory) init.memory = 0.5, init.memory_half = 0;
  std::optional<hw::Efficiency> best;
  double best_error = 0;
  for (double p : {1.0, 1.5, 2.0, 3.0, 4.0, 6.0}) {
    const hw::Efficiency e = fit_blended(ms, peaks, p, init);
    if (const double err = median_error(ms, e, peaks); !best || err < best_error) best = e, best_error = err;
  }
  // The plain roofline stays unless the best blend fits clearly better (1 point of median error).
  if (best && best_error < roofline_error - 0.01) {
    fit.efficiency = *best;
    fit.has_compute = fit.has_memory = true;
  }
  return fit;
}

}  // namespace

double predict(const Measurement& m, const hw::Efficiency& e, const Peaks& peaks) {
  const double memory = m.bytes > 0 ? (m.bytes + e.memory_half) / (peaks.bandwidth * e.memory) : 0.0;
  if (m.cls == OpClass::collective) return memory;
  const double compute = m.flops > 0 ? (m.flops + e.compute_half) / (peaks.flops * e.compute) : 0.0;
  return hw::blend_roofline(compute, memory, e.blend);
}

hw::ClassFit fit_class(const std::vector<Measurement>& measurements, const Peaks& peaks, const hw::Efficiency& fallback,
                       bool blend, std::vector<double>* held_out_errors) {
  const bool collective = !measurements.empty() && measurements.front().cls == OpClass::collective;
  std::vector<const Measurement*> all;
  std::vector<std::string> groups;
  for (const Measurement& m : measurements) {
    all.push_back(&m);
    if (!m.group.empty() && std::find(groups.begin(), groups.end(), m.group) == groups.end()) groups.push_back(m.group);
  }
  hw::ClassFit fit = fit_procedure(all, peaks, fallback, collective, blend);
  fit.points = measurements.size();
  // Held-out error: with groups (imported data: one per model), each group is predicted by a fit on
  // the others, so the error says how well the curves carry to a model they never saw; without,
  // every 5th measurement is left out.
  std::vector<double> errors;
  if (held_out_errors) held_out_errors->assign(all.size(), std::numeric_limits<double>::quiet_NaN());
  auto hold_out = [&](auto&& is_held_out) {
    std::vector<const Measurement*> train;
    std::vector<std::size_t> held;
    for (std::size_t i = 0; i < all.size(); ++i)
      if (is_held_out(i)) held.push_back(i);
      else train.push_back(all[i]);
    if (held.empty() || train.size() < 2) return;
    const hw::ClassFit partial = fit_procedure(train, peaks, fallback, collective, blend);
    for (std::size_t i : held) {
      const double error = std::abs(predict(*all[i], partial.efficiency, peaks) - all[i]->seconds) / all[i]->seconds;
      errors.push_back(error);
      if (held_out_errors) (*held_out_errors)[i] = error;
    }
  };
  if (groups.size() >= 2) {
    for (const std::string& g : groups) hold_out([&](std::size_t i) { return all[i]->group == g; });
    fit.held_out = fmt::format("leave one of {} groups out", groups.size());
  } else {
    hold_out([](std::size_t i) { return i % 5 == 4; });
    fit.held_out = "every 5th measurement left out";
  }
  fit.held_out_error = median(std::move(errors));
  return fit;
}

std::vector<hw::Profile::OpFit> fit_ops(const std::vector<Measurement>& list, const Peaks& peaks, bool blend,
                                        hw::ClassFit& class_fit, const std::vector<double>& class_errors) {
  std::map<std::string, std::vector<std::size_t>> by_op;
  for (std::size_t i = 0; i < list.size(); ++i)
    if (!list[i].op.empty()) by_op[list[i].op].push_back(i);
  auto finite_median = [](const std::vector<double>& v) {
    std::vector<double> kept;
    for (double x : v)
      if (!std::isnan(x)) kept.push_back(x);
    return median(std::move(kept));
  };
  std::vector<hw::Profile::OpFit> out;
  std::vector<double> combined = class_errors;
  for (const auto& [op, indices] : by_op) {
    std::vector<Measurement> subset;
    std::vector<double> class_on_op;
    for (std::size_t i : indices) subset.push_back(list[i]), class_on_op.push_back(class_errors[i]);
    std::vector<double> op_errors;
    hw::ClassFit fit = fit_class(subset, peaks, class_fit.efficiency, blend, &op_errors);
    // An op's own curve has fewer points to stand on: keep it only where it clearly carries better.
    if (!(fit.held_out_error < finite_median(class_on_op) - 0.01)) continue;
    for (std::size_t k = 0; k < indices.size(); ++k) combined[indices[k]] = op_errors[k];
    out.push_back({op, list.front().cls, std::move(fit)});
  }
  if (!out.empty()) class_fit.held_out_error_with_ops = finite_median(combined);
  return out;
}

namespace {

struct Segmented {
  std::vector<hw::CollectiveSegment> segments;
  double bic = std::numeric_limits<double>::infinity();
};

/// Best 1-3 segment alpha-beta fit of (bytes, seconds) pairs sorted by bytes.
Segmented fit_segments(const std::vector<std::pair<double, double>>& points) {
  const std::size_t n = points.size();
  auto fit_range = [&](std::size_t lo, std::size_t hi, hw::CollectiveSegment& seg) {  // [lo, hi)
    std::vector<double> x, t;
    for (std::size_t i = lo; i < hi; ++i) x.push_back(points[i].first), t.push_back(points[i].second);
    const auto line = fit_line(x, t);
    if (!line) return false;
    seg.alpha = line->intercept;
    seg.bandwidth = 1.0 / line->slope;
    return true;
  };
  Segmented best;
  constexpr std::size_t kMinPoints = 6;
  // Candidate breakpoints: 24 quantiles of the sizes.
  std::vector<std::size_t> cuts;
  for (int q = 1; q < 24; ++q) cuts.push_back(n * static_cast<std::size_t>(q) / 24);
  auto consider = [&](std::vector<std::size_t> bounds) {  // bounds: 0 = b0 < b1 < ... = n
    Segmented cand;
    double ssr = 0;
    for (std::size_t s = 0; s + 1 < bounds.size(); ++s) {
      if (bounds[s + 1] - bounds[s] < kMinPoints) return;
      hw::CollectiveSegment seg;
      if (!fit_range(bounds[s], bounds[s + 1], seg)) return;
      seg.up_to = s + 2 < bounds.size() ? points[bounds[s + 1] - 1].first : std::numeric_limits<double>::infinity();
      for (std::size_t i = bounds[s]; i < bounds[s + 1]; ++i) {
        const double r = std::log((seg.alpha + points[i].first / seg.bandwidth) / points[i].second);
        ssr += r * r;
      }
      cand.segments.push_back(seg);
    }
    const double k = 3.0 * static_cast<double>(cand.segments.size()) - 1;
    cand.bic = static_cast<double>(n) * std::log(std::max(ssr, 1e-300) / static_cast<double>(n)) + k * std::log(static_cast<double>(n));
    if (cand.bic < best.bic) best = std::move(cand);
  };
  consider({0, n});
  for (std::size_t a : cuts) {
    consider({0, a, n});
    for (std::size_t b : cuts)
      if (b > a) consider({0, a, b, n});
  }
  return best;
}

}  // namespace

std::vector<hw::MeasuredCollective> fit_collectives(const std::vector<Measurement>& measurements) {
  std::map<std::tuple<std::string, int, int>, std::vector<std::pair<double, double>>> groups;
  for (const Measurement& m : measurements) {
    if (m.cls != OpClass::collective) continue;
    const std::string kind = shape_text(m.shape, "collective", "all_reduce");
    groups[{kind, static_cast<int>(shape_field(m.shape, "ranks", 2)), static_cast<int>(shape_field(m.shape, "nodes", 1))}]
        .emplace_back(m.bytes, m.seconds);
  }
  std::vector<hw::MeasuredCollective> out;
  for (auto& [key, points] : groups) {
    std::sort(points.begin(), points.end());
    hw::MeasuredCollective mc;
    const auto& [kind, ranks, nodes] = key;
    const auto parsed = parse_collective(kind);
    if (!parsed) throw InputError(fmt::format("collective measurement: unknown collective '{}'", kind));
    mc.kind = *parsed;
    mc.ranks = ranks;
    mc.nodes = nodes;
    mc.points = points.size();
    // Every 5th size (in size order) is never fitted: it measures the error, and the validation
    // suite checks the shipped table on exactly those sizes.
    std::vector<std::pair<double, double>> train, held;
    for (std::size_t i = 0; i < points.size(); ++i) (i % 5 == 4 ? held : train).push_back(points[i]);
    const Segmented fitted = fit_segments(train);
    if (fitted.segments.empty()) continue;
    mc.segments = fitted.segments;
    mc.points = train.size();
    std::vector<double> errors;
    for (const auto& [bytes, seconds] : held) errors.push_back(std::abs(mc.time(bytes) - seconds) / seconds);
    mc.held_out_error = median(std::move(errors));
    out.push_back(std::move(mc));
  }
  return out;
}

std::vector<Copy> read_copies_csv(const std::string& path) {
  workload::CsvReader csv(path);
  const auto dir = csv.column("direction"), bytes = csv.column("bytes"), seconds = csv.column("seconds");
  std::vector<Copy> out;
  while (csv.next()) {
    Copy c;
    c.direction = csv.field(dir);
    if (c.direction != "h2d" && c.direction != "d2h" && c.direction != "d2d")
      csv.fail(fmt::format("direction = \"{}\": expected h2d, d2h or d2d", c.direction));
    if (!config::detail::convert(csv.field(bytes), c.bytes) || c.bytes <= 0)
      csv.fail(fmt::format("bytes = \"{}\": expected a number > 0", csv.field(bytes)));
    if (!config::detail::convert(csv.field(seconds), c.seconds) || c.seconds <= 0)
      csv.fail(fmt::format("seconds = \"{}\": expected a number > 0", csv.field(seconds)));
    out.push_back(c);
  }
  return out;
}

std::optional<hw::CopyFit> fit_copies(const std::vector<Copy>& copies) {
  auto fit_on = [&](bool held_out_only, bool train) {
    std::vector<double> x, t;
    for (std::size_t i = 0; i < copies.size(); ++i)
      if (!held_out_only || ((i % 5 == 4) != train)) x.push_back(copies[i].bytes), t.push_back(copies[i].seconds);
    return fit_line(x, t);
  };
  const auto all = fit_on(false, true);  // every copy
  if (!all) return std::nullopt;
  hw::CopyFit fit{1.0 / all->slope, all->intercept, 0.0};
  if (const auto partial = fit_on(true, true); partial && copies.size() >= 5) {
    std::vector<double> errors;
    for (std::size_t i = 4; i < copies.size(); i += 5)
      errors.push_back(std::abs(partial->at(copies[i].bytes) - copies[i].seconds) / copies[i].seconds);
    fit.held_out_error = median(std::move(errors));
  }
  return fit;
}

}  // namespace hetsim::calibrate
