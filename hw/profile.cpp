#include "hw/profile.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

namespace hetsim::hw {

Profile parse_profile(const config::Node& node) {
  Profile p;
  p.name = node.get<std::string>("name").required();
  p.device = node.get<std::string>("device").required();
  p.gpu = node.get<std::string>("gpu").default_to("");
  p.measured = node.get<std::string>("measured").default_to("");
  p.raw = node.get<std::string>("raw").default_to("");
  if (node.has("launch_overhead"))
    p.launch_overhead = node.quantity("launch_overhead", units::Dim::time).non_negative().value();
  if (auto copies = node.maybe("copies")) {
    for (auto [name, slot] : {std::pair{"h2d", &p.h2d}, std::pair{"d2h", &p.d2h}, std::pair{"d2d", &p.d2d}}) {
      const auto c = copies->maybe(name);
      if (!c) continue;
      CopyFit fit;
      fit.bandwidth = c->quantity("bandwidth", units::Dim::bandwidth).positive();
      fit.latency = c->quantity("latency", units::Dim::time).non_negative();
      fit.held_out_error = c->get<double>("held_out_median_abs_error").default_to(0.0).at_least(0.0);
      *slot = fit;
    }
  }
  const auto classes = node.child("op_classes");
  for (OpClass c : kOpClasses) {
    const auto entry = classes.maybe(to_string(c));
    if (!entry) continue;
    ClassFit fit;
    if (auto compute = entry->maybe("compute")) {
      fit.has_compute = true;
      fit.efficiency.compute = compute->get<double>("e_max").in_range(1e-4, 1.0);
      fit.efficiency.compute_half = compute->get<double>("s_half").default_to(0.0).at_least(0.0);
    }
    if (auto memory = entry->maybe("memory")) {
      fit.has_memory = true;
      fit.efficiency.memory = memory->get<double>("e_max").in_range(1e-4, 1.0);
      fit.efficiency.memory_half = memory->get<double>("s_half").default_to(0.0).at_least(0.0);
    }
    if (!fit.has_compute && !fit.has_memory) entry->fail("expected 'compute' and/or 'memory' curves");
    fit.held_out_error = entry->get<double>("held_out_median_abs_error").default_to(0.0).at_least(0.0);
    fit.points = entry->get<unsigned long>("points").default_to(0);
    p.classes[static_cast<std::size_t>(c)] = fit;
  }
  return p;
}

std::string profile_yaml(const Profile& p) {
  std::string out = fmt::format(
      "# Efficiency profile measured by `hetsim calibrate`; e(s) = e_max * s / (s + s_half) per op class,\n"
      "# s = FLOPs per kernel (compute) or bytes per kernel (memory). Raw measurements: {}\n",
      p.raw.empty() ? "(not kept)" : p.raw);
  out += fmt::format("name: {}\ndevice: {}\ngpu: \"{}\"\nmeasured: \"{}\"\nraw: \"{}\"\n", p.name, p.device, p.gpu, p.measured,
                     p.raw);
  if (p.launch_overhead) out += fmt::format("launch_overhead: {} us\n", *p.launch_overhead * 1e6);
  if (p.h2d || p.d2h || p.d2d) {
    out += "copies:\n";
    for (auto [name, fit] : {std::pair{"h2d", &p.h2d}, std::pair{"d2h", &p.d2h}, std::pair{"d2d", &p.d2d}})
      if (*fit)
        out += fmt::format("  {}: {{bandwidth: {} GB/s, latency: {} us, held_out_median_abs_error: {}}}\n", name,
                           (*fit)->bandwidth / 1e9, (*fit)->latency * 1e6, (*fit)->held_out_error);
  }
  out += "op_classes:\n";
  for (OpClass c : kOpClasses) {
    const auto& fit = p.classes[static_cast<std::size_t>(c)];
    if (!fit) continue;
    out += fmt::format("  {}:\n", to_string(c));
    if (fit->has_compute)
      out += fmt::format("    compute: {{e_max: {}, s_half: {}}}\n", fit->efficiency.compute, fit->efficiency.compute_half);
    if (fit->has_memory)
      out += fmt::format("    memory: {{e_max: {}, s_half: {}}}\n", fit->efficiency.memory, fit->efficiency.memory_half);
    out += fmt::format("    held_out_median_abs_error: {}\n    points: {}\n", fit->held_out_error, fit->points);
  }
  return out;
}

void apply_profile(const Profile& p, Device& d) {
  for (OpClass c : kOpClasses) {
    const auto& fit = p.classes[static_cast<std::size_t>(c)];
    if (!fit) continue;
    Efficiency& e = d.efficiency[static_cast<std::size_t>(c)];
    if (fit->has_compute) {
      e.compute = fit->efficiency.compute;
      e.compute_half = fit->efficiency.compute_half;
    }
    if (fit->has_memory) {
      e.memory = fit->efficiency.memory;
      e.memory_half = fit->efficiency.memory_half;
    }
    e.source = fmt::format("profile {} (held-out error {:.1f}%)", p.name, 100 * fit->held_out_error);
  }
  if (p.launch_overhead) d.kernel_launch_overhead = *p.launch_overhead;
  // The host link moves KV and weights both ways: take the slower direction.
  if (p.h2d && p.d2h) {
    d.host.bandwidth = std::min(p.h2d->bandwidth, p.d2h->bandwidth);
    d.host.latency = std::max(p.h2d->latency, p.d2h->latency);
  }
}

}  // namespace hetsim::hw
