#include "hw/device.hpp"

#include <algorithm>
#include <map>
#include <vector>

#include "hw/profile.hpp"
#include "sim/core/catalog.hpp"

namespace hetsim::hw {

namespace {
LinkSpec parse_link(const config::Node& node, const char* default_kind) {
  LinkSpec link;
  link.kind = node.get<std::string>("kind")
                  .default_to(default_kind)
                  .one_of({"pcie", "nvlink", "nvlink-c2c", "infinity-fabric", "ici", "hccs", "upi", "shared-memory", "memory-bus"});
  link.bandwidth = node.quantity("bandwidth", units::Dim::bandwidth).positive();
  link.latency = node.quantity("latency", units::Dim::time).default_to("0 s").non_negative();
  return link;
}
void parse_peaks(const config::Node& compute, Device& d) {
  bool any = false;
  for (DType t : kDTypes) {
    if (compute.has(to_string(t)))
      d.peak_flops[static_cast<std::size_t>(t)] = compute.quantity(to_string(t), units::Dim::flop_rate).positive();
    any = any || d.peak_flops[static_cast<std::size_t>(t)] > 0;
  }
  if (!any) compute.fail("expected at least one dtype peak (fp32, tf32, bf16, fp16, fp8, int8)");
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
  d.kind_name = node.get<std::string>("kind").one_of({"gpu", "cpu", "npu", "pim", "soc"});
  d.kind = d.kind_name == "gpu" ? DeviceKind::gpu : d.kind_name == "cpu" ? DeviceKind::cpu
         : d.kind_name == "npu" ? DeviceKind::npu : d.kind_name == "pim" ? DeviceKind::pim : DeviceKind::soc;
  if (auto storage = node.maybe("storage")) {
    d.storage_capacity = storage->quantity("capacity", units::Dim::bytes).positive();
    d.storage_read_bandwidth = storage->quantity("read_bandwidth", units::Dim::bandwidth).positive();
    (void)storage->get<std::string>("kind").default_to("flash").value();
    (void)storage->quantity("write_bandwidth", units::Dim::bandwidth).default_to("0 B/s").non_negative().value();
  }
  d.runs.fill(true);
  if (d.kind == DeviceKind::npu) {
    // A systolic-array NPU: peak = 2 FLOPs x rows x cols x arrays x clock, unless compute is given.
    const auto sram = node.child("sram");
    d.sram_capacity = sram.quantity("capacity", units::Dim::bytes).positive();
    d.sram_bandwidth = sram.quantity("bandwidth", units::Dim::bandwidth).positive();
    if (auto sys = node.maybe("systolic")) {
      const double rows = sys->get<double>("rows").in_range(1, 1e6), cols = sys->get<double>("cols").in_range(1, 1e6);
      const double arrays = sys->get<double>("arrays").default_to(1.0).in_range(1, 1e6);
      const double clock = sys->quantity("clock", units::Dim::frequency).positive();
      const std::string dt = sys->get<std::string>("dtype").default_to("bf16");
      const auto parsed = parse_dtype(dt);
      if (!parsed) sys->fail_key("dtype", dt, "expected bf16, fp16, fp8 or int8");
      d.peak_flops[static_cast<std::size_t>(*parsed)] = 2 * rows * cols * arrays * clock;
    }
  }
  if (d.kind == DeviceKind::pim) {
    const auto pim = node.child("pim");
    d.internal_bandwidth_multiple = pim.get<double>("internal_bandwidth_multiple").in_range(1.0, 1e4);
    // PIM units run only simple, memory-bound kernels next to the data.
    d.runs.fill(false);
    for (const auto& c : pim.child("runs").items()) {
      bool known = false;
      for (OpClass k : kOpClasses)
        if (to_string(k) == c.scalar()) d.runs[static_cast<std::size_t>(k)] = known = true;
      if (!known) c.fail("expected an op class: gemm, attention_prefill, attention_decode, elementwise, collective");
    }
  }
  if (d.kind == DeviceKind::soc && node.has("engines")) {
    // An SoC's CPU, GPU and NPU share one memory; `engine` picks the one that runs the model, so
    // the same phone can be compared across engines (compute differs, memory traffic does not).
    const auto engines = node.child("engines");
    d.engines = engines.keys();
    if (d.engines.empty()) engines.fail("expected at least one engine, e.g. npu: {compute: {int8: 45 TOPS}}");
    d.engine = node.get<std::string>("engine").default_to(d.engines.front()).one_of(d.engines);
    for (const auto& name : d.engines) {
      Device engine;  // every engine is validated; the chosen one's peaks are the device's
      parse_peaks(engines.child(name).child("compute"), name == d.engine ? d : engine);
    }
  } else {
    parse_peaks(node.section("compute"), d);
  }

  const auto memory = node.child("memory");
  d.memory_kind = memory.get<std::string>("kind").default_to("HBM");
  d.memory_capacity = memory.quantity("capacity", units::Dim::bytes).positive();
  d.memory_bandwidth = memory.quantity("bandwidth", units::Dim::bandwidth).positive();

  const auto links = node.child("links");
  if (d.kind != DeviceKind::pim && d.kind != DeviceKind::soc) d.scale_up = parse_link(links.child("scale_up"), "nvlink");
  d.host = parse_link(links.child("host"), d.kind == DeviceKind::soc ? "shared-memory" : "pcie");
  d.kernel_launch_overhead = node.quantity("kernel_launch_overhead", units::Dim::time).default_to("0 s").non_negative();

  // Per-class efficiencies; a class left out is priced at the pure roofline, and says so.
  const auto eff = node.section("efficiency");
  for (OpClass c : kOpClasses) {
    auto& slot = d.efficiency[static_cast<std::size_t>(c)];
    const bool given = eff.has(to_string(c));
    const auto e = eff.section(to_string(c));
    if (c != OpClass::collective) slot.compute = e.get<double>("compute").default_to(1.0).in_range(0.01, 1.0);
    slot.memory = e.get<double>("memory").default_to(1.0).in_range(0.01, 1.0);
    slot.source = given ? "catalog default (uncalibrated)" : "ideal roofline (no efficiency given)";
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
