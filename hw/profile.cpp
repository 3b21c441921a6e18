#include "hw/profile.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <utility>

namespace hetsim::hw {

namespace {
/// One fitted curve (an op class's, or a single op's).
ClassFit parse_fit(const config::Node& entry) {
  ClassFit fit;
  if (auto compute = entry.maybe("compute")) {
    fit.has_compute = true;
    fit.efficiency.compute = compute->get<double>("e_max").in_range(1e-4, 1.0);
    fit.efficiency.compute_half = compute->get<double>("s_half").default_to(0.0).at_least(0.0);
  }
  if (auto memory = entry.maybe("memory")) {
    fit.has_memory = true;
    fit.efficiency.memory = memory->get<double>("e_max").in_range(1e-4, 1.0);
    fit.efficiency.memory_half = memory->get<double>("s_half").default_to(0.0).at_least(0.0);
  }
  if (!fit.has_compute && !fit.has_memory) entry.fail("expected 'compute' and/or 'memory' curves");
  fit.efficiency.blend = entry.get<double>("blend").default_to(0.0).in_range(0.0, 64.0);
  fit.held_out = entry.get<std::string>("held_out").default_to("");
  fit.held_out_error = entry.get<double>("held_out_median_abs_error").default_to(0.0).at_least(0.0);
  if (entry.has("held_out_with_op_curves"))
    fit.held_out_error_with_ops = entry.get<double>("held_out_with_op_curves").at_least(0.0).value();
  fit.points = entry.get<unsigned long>("points").default_to(0);
  return fit;
}

std::string fit_yaml(const ClassFit& fit, const std::string& indent) {
  std::string out;
  if (fit.has_compute)
    out += fmt::format("{}compute: {{e_max: {}, s_half: {}}}\n", indent, fit.efficiency.compute, fit.efficiency.compute_half);
  if (fit.has_memory)
    out += fmt::format("{}memory: {{e_max: {}, s_half: {}}}\n", indent, fit.efficiency.memory, fit.efficiency.memory_half);
  if (fit.efficiency.blend > 0) out += fmt::format("{}blend: {}\n", indent, fit.efficiency.blend);
  out += fmt::format("{}held_out_median_abs_error: {}\n", indent, fit.held_out_error);
  if (fit.held_out_error_with_ops) out += fmt::format("{}held_out_with_op_curves: {}\n", indent, *fit.held_out_error_with_ops);
  if (!fit.held_out.empty()) out += fmt::format("{}held_out: \"{}\"\n", indent, fit.held_out);
  out += fmt::format("{}points: {}\n", indent, fit.points);
  return out;
}

/// Copies the curves a fit identified onto `e` (a regime it did not identify keeps e's).
void set_curves(const ClassFit& fit, Efficiency& e) {
  if (fit.has_compute) {
    e.compute = fit.efficiency.compute;
    e.compute_half = fit.efficiency.compute_half;
  }
  if (fit.has_memory) {
    e.memory = fit.efficiency.memory;
    e.memory_half = fit.efficiency.memory_half;
  }
  e.blend = fit.efficiency.blend;
}
}  // namespace

Profile parse_profile(const config::Node& node) {
  Profile p;
  p.name = node.get<std::string>("name").required();
  p.device = node.get<std::string>("device").required();
  p.gpu = node.get<std::string>("gpu").default_to("");
  p.measured = node.get<std::string>("measured").default_to("");
  p.raw = node.get<std::string>("raw").default_to("");
  p.command = node.get<std::string>("command").default_to("");
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
  if (auto list = node.maybe("collectives")) {
    for (const config::Node& entry : list->items()) {
      MeasuredCollective m;
      const std::string kind = entry.get<std::string>("collective").one_of({"all_reduce", "all_gather", "reduce_scatter", "all_to_all",
                                                                      "broadcast", "send_recv"});
      m.kind = *parse_collective(kind);  // one_of above admits only known names
      m.ranks = static_cast<int>(entry.get<std::int64_t>("ranks").in_range(2, 1 << 20));
      m.nodes = static_cast<int>(entry.get<std::int64_t>("nodes").default_to(1).in_range(1, m.ranks));
      m.held_out_error = entry.get<double>("held_out_median_abs_error").default_to(0.0).at_least(0.0);
      m.points = entry.get<unsigned long>("points").default_to(0);
      const auto segments = entry.child("segments");
      const auto items = segments.items();
      double previous = 0;
      for (std::size_t j = 0; j < items.size(); ++j) {
        const config::Node& seg = items[j];
        CollectiveSegment cs;
        cs.up_to = j + 1 == items.size() ? std::numeric_limits<double>::infinity()
                                             : seg.quantity("up_to", units::Dim::bytes).positive().value();
        if (cs.up_to <= previous) seg.fail(fmt::format("up_to must increase from one segment to the next (previous {} bytes)", previous));
        previous = cs.up_to;
        cs.alpha = seg.quantity("alpha", units::Dim::time).non_negative();
        cs.bandwidth = seg.quantity("bandwidth", units::Dim::bandwidth).positive();
        m.segments.push_back(cs);
      }
      if (m.segments.empty()) segments.fail("expected at least one segment");
      p.collectives.push_back(std::move(m));
    }
  }
  const auto classes = node.child("op_classes");
  for (OpClass c : kOpClasses) {
    const auto entry = classes.maybe(to_string(c));
    if (!entry) continue;
    p.classes[static_cast<std::size_t>(c)] = parse_fit(*entry);
  }
  if (auto ops = node.maybe("ops")) {
    for (const std::string& name : ops->keys()) {
      const config::Node entry = ops->child(name);
      Profile::OpFit f;
      f.op = name;
      const std::string cls = entry.get<std::string>("class").one_of({"gemm", "elementwise", "attention_prefill", "attention_decode"});
      f.cls = *parse_op_class(cls);  // one_of above admits only class names
      f.fit = parse_fit(entry);
      p.ops.push_back(std::move(f));
    }
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
  if (!p.command.empty()) out += fmt::format("command: \"{}\"\n", p.command);
  if (p.launch_overhead) out += fmt::format("launch_overhead: {} us\n", *p.launch_overhead * 1e6);
  if (p.h2d || p.d2h || p.d2d) {
    out += "copies:\n";
    for (auto [name, fit] : {std::pair{"h2d", &p.h2d}, std::pair{"d2h", &p.d2h}, std::pair{"d2d", &p.d2d}})
      if (*fit)
        out += fmt::format("  {}: {{bandwidth: {} GB/s, latency: {} us, held_out_median_abs_error: {}}}\n", name,
                           (*fit)->bandwidth / 1e9, (*fit)->latency * 1e6, (*fit)->held_out_error);
  }
  if (!p.collectives.empty()) {
    out += "# Measured collectives: t = alpha + payload / bandwidth per payload range (payload bytes per rank).\n";
    out += "collectives:\n";
    for (const MeasuredCollective& m : p.collectives) {
      out += fmt::format("  - {{collective: {}, ranks: {}, nodes: {}, held_out_median_abs_error: {}, points: {}, segments: [", to_string(m.kind),
                         m.ranks, m.nodes, m.held_out_error, m.points);
      for (std::size_t j = 0; j < m.segments.size(); ++j) {
        const CollectiveSegment& cs = m.segments[j];
        out += j ? ", " : "";
        out += j + 1 < m.segments.size() ? fmt::format("{{up_to: {} B, ", cs.up_to) : std::string("{");
        out += fmt::format("alpha: {} us, bandwidth: {} GB/s}}", cs.alpha * 1e6, cs.bandwidth / 1e9);
      }
      out += "]}\n";
    }
  }
  out += "op_classes:\n";
  for (OpClass c : kOpClasses) {
    const auto& fit = p.classes[static_cast<std::size_t>(c)];
    if (!fit) continue;
    out += fmt::format("  {}:\n", to_string(c));
    out += fit_yaml(*fit, "    ");
  }
  if (!p.ops.empty()) {
    out += "# Curves of single ops (graph-builder op names), fitted to that op's measurements alone.\n";
    out += "ops:\n";
    for (const Profile::OpFit& f : p.ops) {
      out += fmt::format("  {}:\n    class: {}\n", f.op, to_string(f.cls));
      out += fit_yaml(f.fit, "    ");
    }
  }
  return out;
}

void apply_profile(const Profile& p, Device& d) {
  for (OpClass c : kOpClasses) {
    const auto& fit = p.classes[static_cast<std::size_t>(c)];
    if (!fit) continue;
    Efficiency& e = d.efficiency[static_cast<std::size_t>(c)];
    set_curves(*fit, e);
    e.source = fit->held_out_error_with_ops
                   ? fmt::format("profile {} (held-out error {:.1f}%; {:.1f}% with its op curves)", p.name,
                                 100 * fit->held_out_error, 100 * *fit->held_out_error_with_ops)
                   : fmt::format("profile {} (held-out error {:.1f}%)", p.name, 100 * fit->held_out_error);
  }
  d.op_efficiency.clear();
  for (const Profile::OpFit& f : p.ops) {
    OpEfficiency o{f.op, f.cls, d.eff(f.cls)};  // the class curve under the op's own regimes
    set_curves(f.fit, o.efficiency);
    o.efficiency.source = fmt::format("profile {}, op curve (held-out error {:.1f}%)", p.name, 100 * f.fit.held_out_error);
    d.op_efficiency.push_back(std::move(o));
  }
  if (p.launch_overhead) d.kernel_launch_overhead = *p.launch_overhead;
  for (const MeasuredCollective& m : p.collectives) d.measured_collectives.push_back(m);
  // The host link moves KV and weights both ways: take the slower direction.
  if (p.h2d && p.d2h) {
    d.host.bandwidth = std::min(p.h2d->bandwidth, p.d2h->bandwidth);
    d.host.latency = std::max(p.h2d->latency, p.d2h->latency);
  }
}

}  // namespace hetsim::hw
