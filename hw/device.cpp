#include "hw/device.hpp"

#include <algorithm>
#include <map>
#include <vector>

#include "hw/profile.hpp"
#include "sim/core/catalog.hpp"

namespace hetsim::hw {

LinkSpec parse_link(const config::Node& node, const char* default_kind) {
  LinkSpec link;
  link.kind = node.get<std::string>("kind")
                  .default_to(default_kind)
                  .one_of({"pcie", "nvlink", "nvlink-c2c", "infinity-fabric", "ici", "hccs", "upi", "shared-memory", "memory-bus", "network"});
  link.bandwidth = node.quantity("bandwidth", units::Dim::bandwidth).positive();
  link.latency = node.quantity("latency", units::Dim::time).default_to("0 s").non_negative();
  return link;
}

namespace {
void parse_peaks(const config::Node& compute, ComputeEngine& e) {
  bool any = false;
  for (DType t : kDTypes) {
    if (compute.has(to_string(t)))
      e.peak_flops[static_cast<std::size_t>(t)] = compute.quantity(to_string(t), units::Dim::flop_rate).positive();
    any = any || e.peak_flops[static_cast<std::size_t>(t)] > 0;
  }
  if (!any) compute.fail("expected at least one dtype peak (fp32, tf32, bf16, fp16, fp8, int8)");
}
/// Memory a device's engines use directly: main memory kinds by what the device is.
TierKind main_memory_kind(DeviceKind k) {
  switch (k) {
    case DeviceKind::cpu:
    case DeviceKind::soc: return TierKind::dram;
    case DeviceKind::csd: return TierKind::csd;
    case DeviceKind::storage: return TierKind::ssd;
    default: return TierKind::hbm;
  }
}
/// The op classes a near-data engine runs (`pim.runs`, `csd.runs`): it only takes simple kernels next to its data.
void parse_runs(const config::Node& section, ComputeEngine& e) {
  e.runs.fill(false);
  for (const auto& c : section.child("runs").items()) {
    const auto cls = parse_op_class(c.scalar());
    if (!cls) c.fail("expected an op class: gemm, attention_prefill, attention_decode, elementwise, collective");
    e.runs[static_cast<std::size_t>(*cls)] = true;
  }
}
/// One efficiency curve (`compute`, `memory`, and their half sizes `compute_half` in FLOPs and
/// `memory_half` in bytes; hw::Efficiency) of class `c`.
Efficiency parse_curve(const config::Node& e, OpClass c) {
  Efficiency slot;
  if (c != OpClass::collective) slot.compute = e.get<double>("compute").default_to(1.0).in_range(0.01, 1.0);
  slot.memory = e.get<double>("memory").default_to(1.0).in_range(0.01, 1.0);
  // Read only where given, so entries without them resolve as before.
  if (e.has("compute_half")) slot.compute_half = e.get<double>("compute_half").in_range(0.0, 1e18);
  if (e.has("memory_half")) slot.memory_half = e.quantity("memory_half", units::Dim::bytes).non_negative();
  return slot;
}
/// An SoC engine's own curves (`engines.NAME.efficiency`): per class, and per op under `ops:`
/// (`ops: {down_proj: {class: gemm, compute: 0.4, ...}}`), each with where it came from.
void parse_engine_curves(const config::Node& eff, ComputeEngine& engine) {
  const std::string source = fmt::format("engine {} curve", engine.name);
  for (OpClass c : kOpClasses) {
    if (!eff.has(to_string(c))) continue;
    Efficiency curve = parse_curve(eff.child(to_string(c)), c);
    curve.source = source;
    engine.efficiency[static_cast<std::size_t>(c)] = curve;
  }
  if (!eff.has("ops")) return;
  const auto ops = eff.child("ops");
  for (const auto& name : ops.all_keys()) {
    const auto o = ops.child(name);
    const std::string cls = o.get<std::string>("class").default_to("gemm");
    const auto parsed = parse_op_class(cls);
    if (!parsed) o.fail_key("class", cls, "expected an op class: gemm, attention_prefill, attention_decode, elementwise, collective");
    OpEfficiency curve{name, *parsed, {}};
    curve.efficiency = parse_curve(o, curve.cls);
    curve.efficiency.source = source;
    engine.op_efficiency.push_back(curve);
  }
}
/// `split:` of an SoC (hw::EngineSplit): the partner engine, the model engine's share (a fraction
/// or auto), the synchronisation per split op and the op classes that split.
EngineSplit parse_split(const config::Node& node, const Device& d, const std::vector<std::string>& names) {
  EngineSplit s;
  const std::string with = node.get<std::string>("with").one_of(names);
  s.with = static_cast<std::size_t>(std::find(names.begin(), names.end(), with) - names.begin());
  if (s.with == d.engine)
    node.fail_key("with", with, fmt::format("expected an engine other than the model engine ({})", d.compute().name));
  const std::string share = node.get<std::string>("share").default_to("auto");
  if (share != "auto") s.share = node.get<double>("share").in_range(0.0, 1.0);
  s.sync = node.quantity("sync", units::Dim::time).default_to("0 s").non_negative();
  if (node.has("ops")) {
    for (const auto& c : node.child("ops").items()) {
      const auto cls = parse_op_class(c.scalar());
      if (cls && *cls != OpClass::collective) s.ops[static_cast<std::size_t>(*cls)] = true;
      else
        c.fail(fmt::format("'{}': expected an op class an engine computes: gemm, attention_prefill, attention_decode, elementwise",
                           c.scalar()));
    }
  } else {
    s.ops[static_cast<std::size_t>(OpClass::gemm)] = true;
  }
  return s;
}
}  // namespace

std::string describe_sources(const Device& d) {
  // "gemm, attention_decode: profile X (...); elementwise, collective: catalog default (uncalibrated)"
  std::vector<std::pair<std::string, std::string>> groups;  // source -> classes, in first-seen order
  for (OpClass c : kOpClasses) {
    // An SoC engine's own curve prices the class on it (and on the split partner, its own).
    const auto& own = d.compute().efficiency[static_cast<std::size_t>(c)];
    std::string src = own ? own->source : d.eff(c).source;
    if (d.split && d.split->ops[static_cast<std::size_t>(c)]) {
      const auto& partner = d.engines[d.split->with].efficiency[static_cast<std::size_t>(c)];
      src += fmt::format(" shared with {}", partner ? partner->source : d.engines[d.split->with].name);
    }
    // What else prices the class: a profile's measured collective tables, its per-op curves.
    if (c == OpClass::collective && !d.measured_collectives.empty()) {
      std::string sizes;
      for (const MeasuredCollective& m : d.measured_collectives)
        sizes += fmt::format("{}{} x{}", sizes.empty() ? "" : ", ", to_string(m.kind), m.ranks);
      src = fmt::format("measured tables ({}), else {}", sizes, src);
    }
    std::string ops;
    for (const OpEfficiency& o : d.op_efficiency)
      if (o.cls == c) ops += fmt::format("{}{}", ops.empty() ? "" : ", ", o.op);
    if (!ops.empty()) src += fmt::format(" with op curves for {}", ops);
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == src; });
    if (it == groups.end()) groups.emplace_back(src, std::string(to_string(c)));
    else it->second += fmt::format(", {}", to_string(c));
  }
  if (groups.size() == 1) return groups.front().first;
  std::string out;
  for (const auto& [src, classes] : groups) out += fmt::format("{}{}: {}", out.empty() ? "" : "; ", classes, src);
  return out;
}

std::optional<std::size_t> Device::find_tier(TierKind k) const {
  for (std::size_t i = 0; i < tiers.size(); ++i)
    if (tiers[i].kind == k) return i;
  return std::nullopt;
}

const MemoryTier* Device::storage() const {
  auto i = find_tier(TierKind::flash);
  return i ? &tiers[*i] : nullptr;
}

Device parse_device(const config::Node& node) {
  Device d;
  d.name = node.get<std::string>("name").required();
  d.kind_name = node.get<std::string>("kind").one_of({"gpu", "cpu", "npu", "pim", "soc", "csd", "storage"});
  d.kind = d.kind_name == "gpu" ? DeviceKind::gpu : d.kind_name == "cpu" ? DeviceKind::cpu
         : d.kind_name == "npu" ? DeviceKind::npu : d.kind_name == "pim" ? DeviceKind::pim
         : d.kind_name == "csd" ? DeviceKind::csd : d.kind_name == "storage" ? DeviceKind::storage : DeviceKind::soc;

  // Keys are read in the order the resolved configuration lists them (storage, kind-specific
  // sections, compute, memory, links); the tiers are assembled in their own order afterwards:
  // main memory first (the device slot a node holds), then SRAM, PIM-internal memory, storage.
  std::optional<MemoryTier> storage_tier, sram_tier;
  double pim_multiple = 0;
  if (auto storage = node.maybe("storage")) {
    MemoryTier t;
    t.name = "storage";
    t.kind = TierKind::flash;
    t.capacity = storage->quantity("capacity", units::Dim::bytes).positive();
    t.read_bandwidth = storage->quantity("read_bandwidth", units::Dim::bandwidth).positive();
    t.technology = storage->get<std::string>("kind").default_to("flash");
    t.write_bandwidth = storage->quantity("write_bandwidth", units::Dim::bandwidth).default_to("0 B/s").non_negative();
    // Random reads reach bandwidth x size / (size + request_half) (hw/memory_tier.hpp); 0: any size at full rate.
    t.request_half = storage->quantity("request_half", units::Dim::bytes).default_to("0 B").non_negative();
    storage_tier = t;
  }
  ComputeEngine engine;
  engine.runs.fill(true);
  engine.name = d.kind == DeviceKind::gpu ? "sm" : d.kind == DeviceKind::cpu ? "cores" : d.kind == DeviceKind::npu ? "systolic"
              : d.kind == DeviceKind::csd ? "fpga" : d.kind == DeviceKind::storage ? "none" : "pim";
  if (d.kind == DeviceKind::npu) {
    // A systolic-array NPU: peak = 2 FLOPs x rows x cols x arrays x clock, unless compute is given.
    const auto sram = node.child("sram");
    MemoryTier t;
    t.name = "sram";
    t.kind = TierKind::sram;
    t.capacity = sram.quantity("capacity", units::Dim::bytes).positive();
    t.read_bandwidth = t.write_bandwidth = sram.quantity("bandwidth", units::Dim::bandwidth).positive();
    sram_tier = t;
    if (auto sys = node.maybe("systolic")) {
      const double rows = sys->get<double>("rows").in_range(1, 1e6), cols = sys->get<double>("cols").in_range(1, 1e6);
      const double arrays = sys->get<double>("arrays").default_to(1.0).in_range(1, 1e6);
      const double clock = sys->quantity("clock", units::Dim::frequency).positive();
      const std::string dt = sys->get<std::string>("dtype").default_to("bf16");
      const auto parsed = parse_dtype(dt);
      if (!parsed) sys->fail_key("dtype", dt, "expected bf16, fp16, fp8 or int8");
      engine.peak_flops[static_cast<std::size_t>(*parsed)] = 2 * rows * cols * arrays * clock;
    }
  }
  if (d.kind == DeviceKind::pim) {
    const auto pim = node.child("pim");
    pim_multiple = pim.get<double>("internal_bandwidth_multiple").in_range(1.0, 1e4);
    // PIM units run only simple, memory-bound kernels next to the data.
    parse_runs(pim, engine);
  }
  // Computational storage: an engine (FPGA) beside the flash controllers, streaming from the flash at
  // the drive's internal bandwidth (its main memory here), far above its host link.
  if (d.kind == DeviceKind::csd) parse_runs(node.child("csd"), engine);
  // A plain drive holds bytes and runs nothing (a KV home whose attention runs elsewhere).
  if (d.kind == DeviceKind::storage) engine.runs.fill(false);
  if (d.kind == DeviceKind::soc && node.has("engines")) {
    // An SoC's CPU, GPU and NPU share one memory; `engine` picks the one that runs the model, so
    // the same phone can be compared across engines (compute differs, memory traffic does not).
    const auto engines = node.child("engines");
    const auto names = engines.all_keys();
    if (names.empty()) engines.fail("expected at least one engine, e.g. npu: {compute: {int8: 45 TOPS}}");
    const std::string chosen = node.get<std::string>("engine").default_to(names.front()).one_of(names);
    // Serving may run decode-only steps on another engine (PowerInfer-2: prefill on the NPU, decode on the CPU).
    const std::string decoding = node.get<std::string>("decode_engine").default_to(chosen).one_of(names);
    for (const auto& name : names) {
      ComputeEngine e = engine;
      e.name = name;
      const auto entry = engines.child(name);
      parse_peaks(entry.child("compute"), e);
      e.memory_bandwidth = entry.quantity("memory_bandwidth", units::Dim::bandwidth).default_to("0 B/s").non_negative();
      if (entry.has("efficiency")) parse_engine_curves(entry.child("efficiency"), e);
      if (name == chosen) d.engine = d.engines.size();
      if (name == decoding) d.decode_engine = d.engines.size();
      d.engines.push_back(e);
    }
    // `split: null` (e.g. --set cluster.device.split=null) runs every op on the one engine.
    if (auto split = node.maybe("split"); split && !split->is_null()) d.split = parse_split(*split, d, names);
  } else {
    if (d.kind != DeviceKind::storage) parse_peaks(node.section("compute"), engine);
    d.engines.push_back(engine);
  }

  const auto memory = node.child("memory");
  MemoryTier main;
  main.name = "memory";
  main.kind = main_memory_kind(d.kind);
  main.technology = memory.get<std::string>("kind").default_to("HBM");
  main.capacity = memory.quantity("capacity", units::Dim::bytes).positive();
  main.read_bandwidth = main.write_bandwidth = memory.quantity("bandwidth", units::Dim::bandwidth).positive();
  d.tiers.push_back(main);
  // What the driver reports as total (CUDA's cudaMemGetInfo, vLLM's total_gpu_memory): less than
  // the memory on the board, which the driver partly reserves; and datasheets' "GB" are often GiB
  // (H100: "80GB", 79.18 GiB reported), so the check reads the capacity in binary units.
  if (memory.has("usable")) {
    d.usable_memory = memory.quantity("usable", units::Dim::bytes).positive();
    if (d.usable_memory > main.capacity * (1 << 30) / 1e9)
      memory.fail_key("usable", memory.child("usable").scalar(),
                      fmt::format("expected at most the capacity ({}, read as binary units)",
                                  units::format(main.capacity, units::Dim::bytes)));
    d.usable_memory_source = "driver-reported total";
  } else {
    d.usable_memory = main.capacity;
    d.usable_memory_source = "datasheet capacity (no driver figure)";
  }
  if (sram_tier) d.tiers.push_back(*sram_tier);
  if (pim_multiple > 0) {
    // PIM units sit on the DRAM banks: they see the memory at its internal bandwidth, a multiple
    // of the external interface the host uses. The PIM engine's home is that internal view.
    MemoryTier t = main;
    t.name = "pim";
    t.kind = TierKind::pim;
    t.read_bandwidth = t.write_bandwidth = main.read_bandwidth * pim_multiple;
    d.tiers.push_back(t);
    for (auto& e : d.engines) e.home_tier = d.tiers.size() - 1;
  }
  if (storage_tier) d.tiers.push_back(*storage_tier);

  const auto links = node.child("links");
  if (d.kind == DeviceKind::gpu || d.kind == DeviceKind::cpu || d.kind == DeviceKind::npu) d.scale_up = parse_link(links.child("scale_up"), "nvlink");
  d.host = parse_link(links.child("host"), d.kind == DeviceKind::soc ? "shared-memory" : "pcie");
  d.kernel_launch_overhead = node.quantity("kernel_launch_overhead", units::Dim::time).default_to("0 s").non_negative();
  if (node.has("gemm_dtype_ceiling")) {
    const auto ceilings = node.section("gemm_dtype_ceiling");
    for (DType t : kDTypes)
      if (ceilings.has(to_string(t)))
        d.gemm_dtype_ceiling[static_cast<std::size_t>(t)] = ceilings.get<double>(to_string(t)).in_range(0.01, 1.0);
  }

  // Per-class efficiencies; a class left out is priced at the pure roofline, and says so.
  const auto eff = node.section("efficiency");
  for (OpClass c : kOpClasses) {
    auto& slot = d.efficiency[static_cast<std::size_t>(c)];
    const bool given = eff.has(to_string(c));
    slot = parse_curve(eff.section(to_string(c)), c);
    slot.source = given ? "catalog default (uncalibrated)" : "ideal roofline (no efficiency given)";
  }
  // `profile: none` keeps the catalog defaults (e.g. to compare with the uncalibrated model).
  if (node.has("profile") && node.get<std::string>("profile").value() != "none") {
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

Device catalog_device(const std::string& name, bool with_profile) {
  auto doc = config::Document::load_string(
      with_profile ? "device: " + name + "\n" : "device: {preset: " + name + ", profile: none}\n", "device");
  auto layered = catalog::with_preset(doc.root(), "device", "hw/catalog");
  Device d = parse_device(layered.node);
  layered.preset.check_unknown_keys();
  return d;
}

}  // namespace hetsim::hw
