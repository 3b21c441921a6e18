#pragma once
// Fits per-op-class efficiency curves to measured kernel times.
//
// The cost model prices a kernel as t = max((F + h_c) / (P e_c), (B + h_m) / (W e_m)) (see
// hw/device.hpp: e(s) = e_max s / (s + s_half)), i.e. the larger of two affine functions of the
// kernel's FLOPs F and bytes B. Fitting is therefore max-affine regression with two pieces:
// assign each measurement to the regime that bounds it, fit each regime's line by least squares
// weighted by 1/t^2 (relative error, since times span decades), reassign, repeat until stable.
// e_max = 1 / (slope * peak) and s_half = intercept / slope.
#include <optional>
#include <string>
#include <vector>

#include "kernels/measurement.hpp"
#include "hw/profile.hpp"

namespace hetsim::calibrate {

struct Peaks {
  double flops = 0;      ///< peak FLOP/s of the op class's dtype
  double bandwidth = 0;  ///< memory bandwidth (link bandwidth for collectives), bytes/s
};

/// Fits the measurements of one op class. `fallback` prices a regime the data do not identify.
/// The held-out error is measured on every 5th measurement (in input order) left out of a fit
/// on the rest; the curves returned are then fitted on all measurements.
/// `blend` lets the fit replace the max by a fitted blend (hw::Efficiency::blend) when that fits
/// clearly better (imported profiles; `hetsim calibrate --blend`).
/// `held_out_errors`, if given, receives each measurement's held-out relative error (in input
/// order; NaN for one never held out).
hw::ClassFit fit_class(const std::vector<Measurement>& measurements, const Peaks& peaks, const hw::Efficiency& fallback,
                       bool blend = true, std::vector<double>* held_out_errors = nullptr);

/// Per-op curves for the measurements of `list` (one op class, fitted as `class_fit` with
/// per-measurement held-out errors `class_errors`) that name the op they time: each op's own fit,
/// kept where its held-out error beats the class curve's on the same measurements by a point.
/// Sets class_fit.held_out_error_with_ops when any is kept.
std::vector<hw::Profile::OpFit> fit_ops(const std::vector<Measurement>& list, const Peaks& peaks, bool blend,
                                        hw::ClassFit& class_fit, const std::vector<double>& class_errors);

/// One timed copy from the copies CSV.
struct Copy {
  std::string direction;
  double bytes = 0, seconds = 0;
};
/// Reads direction,bytes,seconds rows; malformed lines are InputErrors naming file:line.
std::vector<Copy> read_copies_csv(const std::string& path);
/// Fits t = bytes / bandwidth + latency to one direction's copies (held-out: every 5th point).
std::optional<hw::CopyFit> fit_copies(const std::vector<Copy>& copies);

/// Fits each (collective, ranks, nodes) group of collective measurements (shape fields collective,
/// ranks, nodes; `bytes` = payload per rank) with 1 to 3 alpha-beta segments over payload ranges,
/// chosen by a BIC over log residuals. Every 5th size (sorted) is left out of the fit and gives the
/// held-out error.
std::vector<hw::MeasuredCollective> fit_collectives(const std::vector<Measurement>& measurements);

/// Predicted time of one measurement's kernel under `fit` (the cost model's formula, one launch,
/// without launch overhead).
double predict(const Measurement& m, const hw::Efficiency& e, const Peaks& peaks);

}  // namespace hetsim::calibrate
