#include "hw/device.hpp"

#include <algorithm>
#include <map>
#include <vector>

#include "hw/profile.hpp"
#include "sim/core/catalog.hpp"

namespace hetsim::hw {

namespace {
LinkSpec parse_link(const config::Node& node) {
  LinkSpec link;
  link.bandwidth = node.quantity("bandwidth", units::Dim::bandwidth).positive();
  link.latency = node.quantity("latency", units::Dim::time).default_to("0 s").non_negative();
  return link;
}
}  // namespace

std::string describe_sources(const Device& d) {
  // "gemm, attention_decode: profile X (...); elementwise, collective: catalog default (uncalibrated)"
  std::vector<std::pair<std::string, std::string>> groups;  // source -> classes, in first-seen order
  for (OpClass c : kOpClasses) {
    const auto& src = d.eff(c).source;
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == src; });
    if (it == groups.end()) groups.emplace_back(src, std::string(to_string(c)));
    else it->second += fmt::format(", {}", to_string(c));
  }
  if (groups.size() == 1) return groups.front().first;
  std::string out;
  for (const auto& [src, classes] : groups) out += fmt::format("{}{}: {}", out.empty() ? "" : "; ", classes, src);
  return out;
}

Device parse_device(const config::Node& node) {
  Device d;
  d.name = node.get<std::string>("name").required();
  d.kind = node.get<std::string>("kind").one_of({"gpu"});
  const auto compute = node.child("compute");
  bool any = false;
  for (DType t : kDTypes) {
    if (!compute.has(to_string(t))) continue;
    d.peak_flops[static_cast<std::size_t>(t)] = compute.quantity(to_string(t), units::Dim::flop_rate).positive();
    any = true;
  }
  if (!any) compute.fail("expected at least one dtype peak (fp32, tf32, bf16, fp16, fp8, int8)");

  const auto memory = node.child("memory");
  d.memory_kind = memory.get<std::string>("kind").default_to("HBM");
  d.memory_capacity = memory.quantity("capacity", units::Dim::bytes).positive();
  d.memory_bandwidth = memory.quantity("bandwidth", units::Dim::bandwidth).positive();

  const auto links = node.child("links");
  d.scale_up = parse_link(links.child("scale_up"));
  d.host = parse_link(links.child("host"));
  d.kernel_launch_overhead = node.quantity("kernel_launch_overhead", units::Dim::time).default_to("0 s").non_negative();

  const auto eff = node.child("efficiency");
  for (OpClass c : kOpClasses) {
    const auto e = eff.child(to_string(c));
    auto& slot = d.efficiency[static_cast<std::size_t>(c)];
    if (c != OpClass::collective) slot.compute = e.get<double>("compute").default_to(1.0).in_range(0.01, 1.0);
    slot.memory = e.get<double>("memory").default_to(1.0).in_range(0.01, 1.0);
    slot.source = "catalog default (uncalibrated)";
  }
  if (node.has("profile")) {
    const std::string name = node.get<std::string>("profile");
    // A catalog profile by name (hw/profiles/NAME.yaml), or a profile file by path.
    const bool is_path = name.find('/') != std::string::npos || name.ends_with(".yaml");
    auto doc = is_path ? config::Document::load_file(node.file_path("profile"))
                       : catalog::load("hw/profiles", name, node, "profile");
    const Profile profile = parse_profile(doc.root());
    doc.check_unknown_keys();
    if (profile.device != d.name)
      node.fail_key("profile", name, fmt::format("profile was measured for device '{}', not '{}'", profile.device, d.name));
    apply_profile(profile, d);
  }
  d.efficiency_source = describe_sources(d);
  d.cost_per_hour = node.get<double>("cost_per_hour").default_to(0.0).in_range(0.0, 1e6);
  return d;
}

}  // namespace hetsim::hw
