#include "calibrate/calibrate_command.hpp"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <algorithm>
#include <map>

#include "calibrate/fit.hpp"
#include "calibrate/vidur_import.hpp"
#include <nlohmann/json.hpp>
#include <fstream>

#include "sim/core/io/child_process.hpp"
#include "hw/device.hpp"
#include "hw/profile.hpp"
#include "sim/core/io/atomic_file.hpp"
#include "sim/core/error.hpp"

namespace hetsim::calibrate {
namespace fs = std::filesystem;

namespace {

Peaks peaks_for(const hw::Device& d, OpClass c) {
  if (c == OpClass::collective) return {0, d.scale_up.bandwidth};
  return {d.peak(DType::bf16), d.memory().read_bandwidth};
}

/// Median relative error of `profile`'s curves per kernel over `ms`.
std::map<std::string, std::pair<double, std::size_t>> errors_by_kernel(const hw::Profile& p, const hw::Device& d,
                                                                       const std::vector<Measurement>& ms) {
  std::map<std::string, std::vector<double>> errors;
  for (const Measurement& m : ms) {
    const auto& fit = p.classes[static_cast<std::size_t>(m.cls)];
    if (!fit || m.cls == OpClass::collective) continue;
    hw::Efficiency e = fit->efficiency;
    for (const auto& op : p.ops)
      if (op.op == m.op && op.cls == m.cls) e = op.fit.efficiency;
    errors[m.kernel].push_back(std::abs(predict(m, e, peaks_for(d, m.cls)) - m.seconds) / m.seconds);
  }
  std::map<std::string, std::pair<double, std::size_t>> out;
  for (auto& [kernel, e] : errors) {
    std::nth_element(e.begin(), e.begin() + static_cast<std::ptrdiff_t>(e.size() / 2), e.end());
    out[kernel] = {e[e.size() / 2], e.size()};
  }
  return out;
}

std::string report_markdown(const hw::Profile& p, const hw::Device& d, const std::vector<Measurement>& ms,
                            const std::vector<Measurement>& validation, double seconds) {
  std::string out = fmt::format("# Calibration report: {}\n\nGPU: {}  \n{}  \nmeasurements: {} ({:.0f} s)\n\n", p.name, p.gpu,
                                p.measured, ms.size(), seconds);
  out += "Fit: t = (t_c^p + t_m^p)^(1/p) with t_c = (F + s_half_c) / (peak e_max_c), t_m = (B + s_half_m) / (bw e_max_m) "
         "(p = blend; 0 = max, the plain roofline).\n\n";
  out += "| op class | points | compute e_max | compute s_half (FLOP) | memory e_max | memory s_half (B) | blend | held-out median abs error | with per-op curves | held out |\n";
  out += "|---|---|---|---|---|---|---|---|---|---|\n";
  for (OpClass c : kOpClasses) {
    const auto& f = p.classes[static_cast<std::size_t>(c)];
    if (!f) {
      if (c != OpClass::collective || p.collectives.empty()) out += fmt::format("| {} | 0 | - | - | - | - | - | not measured | | |\n", to_string(c));
      continue;
    }
    out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {:.1f}% | {} | {} |\n", to_string(c), f->points,
                       f->has_compute ? fmt::format("{:.3f}", f->efficiency.compute) : "-",
                       f->has_compute ? fmt::format("{:.3g}", f->efficiency.compute_half) : "-",
                       f->has_memory ? fmt::format("{:.3f}", f->efficiency.memory) : "-",
                       f->has_memory ? fmt::format("{:.3g}", f->efficiency.memory_half) : "-",
                       f->efficiency.blend > 0 ? fmt::format("{:g}", f->efficiency.blend) : "max", 100 * f->held_out_error,
                       f->held_out_error_with_ops ? fmt::format("{:.1f}%", 100 * *f->held_out_error_with_ops) : "-", f->held_out);
  }
  if (!p.ops.empty()) {
    out += "\nPer-op curves (kept where the op's own fit carries to held-out models at least a point better than its class curve):\n\n";
    out += "| op | class | points | compute e_max | compute s_half (FLOP) | memory e_max | memory s_half (B) | blend | held-out median abs error |\n";
    out += "|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& op : p.ops) {
      const hw::ClassFit& f = op.fit;
      out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {:.1f}% |\n", op.op, to_string(op.cls), f.points,
                         f.has_compute ? fmt::format("{:.3f}", f.efficiency.compute) : "-",
                         f.has_compute ? fmt::format("{:.3g}", f.efficiency.compute_half) : "-",
                         f.has_memory ? fmt::format("{:.3f}", f.efficiency.memory) : "-",
                         f.has_memory ? fmt::format("{:.3g}", f.efficiency.memory_half) : "-",
                         f.efficiency.blend > 0 ? fmt::format("{:g}", f.efficiency.blend) : "max", 100 * f.held_out_error);
    }
  }
  const auto fitted = errors_by_kernel(p, d, ms);
  const auto checked = errors_by_kernel(p, d, validation);
  if (!fitted.empty()) {
    out += "\n| kernel | points fitted | median abs error (fitted models) | points validation | median abs error (validation models, not fitted) |\n";
    out += "|---|---|---|---|---|\n";
    for (const auto& [kernel, e] : fitted) {
      const auto v = checked.find(kernel);
      out += fmt::format("| {} | {} | {:.1f}% | {} | {} |\n", kernel, e.second, 100 * e.first, v == checked.end() ? 0 : v->second.second,
                         v == checked.end() ? "-" : fmt::format("{:.1f}%", 100 * v->second.first));
    }
  }
  if (!p.collectives.empty()) {
    out += "\n| collective | ranks | nodes | points | segments | held-out median abs error (every 5th size) |\n|---|---|---|---|---|---|\n";
    for (const auto& m : p.collectives)
      out += fmt::format("| {} | {} | {} | {} | {} | {:.1f}% |\n", to_string(m.kind), m.ranks, m.nodes, m.points, m.segments.size(),
                         100 * m.held_out_error);
  }
  for (auto [name, fit] : {std::pair{"H2D", &p.h2d}, std::pair{"D2H", &p.d2h}, std::pair{"D2D", &p.d2d}})
    if (*fit)
      out += fmt::format("\n{} copies: {:.1f} GB/s, {:.1f} us latency (held-out error {:.1f}%)", name, (*fit)->bandwidth / 1e9,
                         (*fit)->latency * 1e6, 100 * (*fit)->held_out_error);
  return out + "\n";
}

/// Runs hetsim-kernels (built beside hetsim when the CUDA toolkit was found) to measure the GPU.
std::vector<Measurement> measure_on_gpu(const fs::path& raw, const fs::path& dir, const std::string& name, bool quick,
                                        hw::Profile& profile) {
  const fs::path exe = fs::path(self_executable()).parent_path() / "hetsim-kernels";
  if (!fs::exists(exe))
    throw InputError(fmt::format("calibrate: {} not found: this hetsim was built without the CUDA toolkit (nvcc not found at "
                                 "configure time); measure on a machine with nvcc and an NVIDIA GPU, or refit a raw CSV with --refit",
                                 exe.string()));
  fs::create_directories(dir.empty() ? "." : dir);
  const fs::path info = dir / (name + ".gpu.json");
  const fs::path log = dir / (name + ".calibrate.log");
  std::vector<std::string> args = {"measure", "--raw", raw.string(), "--info", info.string(), "--copies",
                                   (dir / (name + ".copies.csv")).string()};
  if (quick) args.push_back("--quick");
  const int code = run_child(exe.string(), args, log.string());
  if (code != 0) {
    std::ifstream in(log);
    std::string line, last;
    while (std::getline(in, line))
      if (!line.empty()) last = line;
    const std::string why = last.rfind("error: ", 0) == 0 ? last.substr(7) : last;
    if (code == 2) throw InputError(fmt::format("calibrate: {} (log: {})", why, log.string()));
    throw std::runtime_error(fmt::format("hetsim-kernels failed with exit {}: {} (log: {})", code, why, log.string()));
  }
  std::ifstream in(info);
  const auto j = nlohmann::json::parse(in);
  profile.gpu = j.value("name", "");
  profile.measured = j.value("details", "");
  return read_raw_csv(raw.string());
}

/// Published measurements (`--import`), minus the excluded groups (kept for validation).
std::vector<Measurement> import_measurements(const CalibrateOptions& o, hw::Profile& profile, std::vector<Measurement>& validation) {
  if (o.import_format != "vidur")
    throw InputError(fmt::format("--import {}: unknown format, expected vidur (microsoft/vidur profiling data)", o.import_format));
  if (o.ops.empty() && o.collectives.empty())
    throw InputError("--import vidur: give --ops DIR (Vidur's compute/GPU folder) and/or --collectives FILE");
  std::vector<Measurement> ms;
  if (!o.ops.empty()) {
    auto ops = import_vidur_ops(o.ops);
    for (const std::string& g : o.exclude)
      if (std::none_of(ops.begin(), ops.end(), [&](const Measurement& m) { return m.group == g; }))
        throw InputError(fmt::format("--exclude {}: no such model in {}", g, o.ops));
    for (auto& m : ops)
      (std::find(o.exclude.begin(), o.exclude.end(), m.group) == o.exclude.end() ? ms : validation).push_back(std::move(m));
  }
  for (const std::string& file : o.collectives) {
    auto coll = import_vidur_collectives(file);
    ms.insert(ms.end(), std::make_move_iterator(coll.begin()), std::make_move_iterator(coll.end()));
  }
  std::string sources = o.ops;
  for (const std::string& file : o.collectives) sources += (sources.empty() ? "" : ", ") + file;
  std::string excluded;
  for (const std::string& g : o.exclude) excluded += (excluded.empty() ? "" : ", ") + g;
  profile.gpu = "(imported measurements)";
  profile.measured = fmt::format("imported from Vidur's profiling data (microsoft/vidur, MIT; Agrawal et al., MLSys 2024): {}{}",
                                 sources, excluded.empty() ? "" : fmt::format("; kept out of the fit for validation: {}", excluded));
  profile.raw = sources;
  // The arguments that rebuild this profile (paths as given, relative to the repository root).
  profile.command = fmt::format("calibrate --import vidur --device {}{}", o.device, o.ops.empty() ? "" : " --ops " + o.ops);
  for (const std::string& file : o.collectives) profile.command += " --collectives " + file;
  for (const std::string& g : o.exclude) profile.command += " --exclude " + g;
  // Vidur times kernels back to back: their fixed costs are in the fitted half-sizes, and the host's
  // launch cost belongs to the serving stack, not the device.
  profile.launch_overhead = 0.0;
  return ms;
}

}  // namespace

int run_calibrate(const CalibrateOptions& o) {
  if (o.out.empty() || fs::path(o.out).extension() != ".yaml")
    throw InputError(fmt::format("--out {}: expected a profile path ending in .yaml, e.g. hw/profiles/my-gpu.yaml", o.out));
  // The catalog's own efficiencies, not a profile it names: they fill regimes the measurements do
  // not identify, and a profile must not depend on the one it replaces.
  const hw::Device device = hw::catalog_device(o.device, false);
  const auto t0 = std::chrono::steady_clock::now();
  hw::Profile profile;
  profile.name = fs::path(o.out).stem().string();
  profile.device = device.name;
  std::vector<Measurement> ms, validation;
  const fs::path out(o.out);
  const fs::path raw = out.parent_path() / (profile.name + ".raw.csv");
  if (!o.import_format.empty()) {
    ms = import_measurements(o, profile, validation);
  } else if (!o.refit.empty()) {
    ms = read_raw_csv(o.refit);
    profile.gpu = "(refit)";
    profile.measured = fmt::format("refit of {}", o.refit);
    profile.raw = fs::relative(fs::absolute(o.refit), fs::absolute(out.parent_path())).string();
  } else {
    ms = measure_on_gpu(raw, out.parent_path(), profile.name, o.quick, profile);
    profile.raw = raw.filename().string();
  }
  if (ms.empty()) throw InputError(fmt::format("{}: no measurements to fit", o.refit.empty() ? raw.string() : o.refit));
  std::map<OpClass, std::vector<Measurement>> by_class;
  // Curves are fractions of the bf16 peak; the tiled baseline GEMM and the empty kernel are
  // recorded for comparison and launch overhead, not fitted.
  // (Imported data: fp16, whose peak equals bf16's on every GPU in the catalog.)
  for (const auto& m : ms)
    if ((m.cls == OpClass::collective || m.dtype == DType::bf16 || m.dtype == DType::fp16) && m.kernel != "empty_kernel" &&
        m.kernel != "tiled_baseline")
      by_class[m.cls].push_back(m);
  for (const auto& [cls, list] : by_class) {
    // Collectives with a group size are a measured table; others fit the link efficiency curve.
    if (cls == OpClass::collective && list.front().shape.find("ranks=") != std::string::npos) {
      profile.collectives = fit_collectives(list);
      continue;
    }
    const bool blend = o.blend || !o.import_format.empty();
    std::vector<double> errors;
    hw::ClassFit fit = fit_class(list, peaks_for(device, cls), device.eff(cls), blend, &errors);
    for (auto& op : fit_ops(list, peaks_for(device, cls), blend, fit, errors)) profile.ops.push_back(std::move(op));
    profile.classes[static_cast<std::size_t>(cls)] = std::move(fit);
  }
  for (const auto& m : ms)
    if (m.kernel == "empty_kernel") profile.launch_overhead = m.seconds;
  // Copies sit beside the raw CSV: NAME.raw.csv -> NAME.copies.csv.
  const fs::path raw_used = o.refit.empty() ? raw : fs::path(o.refit);
  std::string stem = raw_used.filename().string();
  if (stem.ends_with(".raw.csv")) stem.resize(stem.size() - 8);
  const fs::path copies = raw_used.parent_path() / (stem + ".copies.csv");
  if (fs::exists(copies)) {
    std::map<std::string, std::vector<Copy>> by_direction;
    for (const auto& c : read_copies_csv(copies.string())) by_direction[c.direction].push_back(c);
    profile.h2d = fit_copies(by_direction["h2d"]);
    profile.d2h = fit_copies(by_direction["d2h"]);
    profile.d2d = fit_copies(by_direction["d2d"]);
  }
  AtomicFile yaml(o.out);
  yaml.write(profile_yaml(profile));
  yaml.commit();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string report = report_markdown(profile, device, ms, validation, seconds);
  AtomicFile md((out.parent_path() / (profile.name + ".report.md")).string());
  md.write(report);
  md.commit();
  fmt::print("{}\nwrote {} (use it with `profile: {}` in the device entry or cluster.device)\n", report, o.out, profile.name);
  return 0;
}

}  // namespace hetsim::calibrate
