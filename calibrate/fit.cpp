#include "calibrate/fit.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <optional>

#include "sim/core/config.hpp"
#include "sim/core/io/csv.hpp"

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

}  // namespace

double predict(const Measurement& m, const hw::Efficiency& e, const Peaks& peaks) {
  const double memory = m.bytes > 0 ? (m.bytes + e.memory_half) / (peaks.bandwidth * e.memory) : 0.0;
  if (m.cls == OpClass::collective) return memory;
  const double compute = m.flops > 0 ? (m.flops + e.compute_half) / (peaks.flops * e.compute) : 0.0;
  return std::max(compute, memory);
}

hw::ClassFit fit_class(const std::vector<Measurement>& measurements, const Peaks& peaks, const hw::Efficiency& fallback) {
  const bool collective = !measurements.empty() && measurements.front().cls == OpClass::collective;
  std::vector<const Measurement*> all, train, held_out;
  for (std::size_t i = 0; i < measurements.size(); ++i) {
    all.push_back(&measurements[i]);
    (i % 5 == 4 ? held_out : train).push_back(&measurements[i]);
  }
  hw::ClassFit fit = to_fit(fit_pieces(all, peaks, collective), peaks, fallback, collective);
  fit.points = measurements.size();
  if (!held_out.empty()) {
    const hw::ClassFit partial = to_fit(fit_pieces(train, peaks, collective), peaks, fallback, collective);
    std::vector<double> errors;
    for (auto* m : held_out) errors.push_back(std::abs(predict(*m, partial.efficiency, peaks) - m->seconds) / m->seconds);
    std::nth_element(errors.begin(), errors.begin() + static_cast<std::ptrdiff_t>(errors.size() / 2), errors.end());
    fit.held_out_error = errors[errors.size() / 2];
  }
  return fit;
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
    std::nth_element(errors.begin(), errors.begin() + static_cast<std::ptrdiff_t>(errors.size() / 2), errors.end());
    fit.held_out_error = errors[errors.size() / 2];
  }
  return fit;
}

}  // namespace hetsim::calibrate
