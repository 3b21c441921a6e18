#include "sim/scenario/replay_scenario.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "sim/core/catalog.hpp"
#include "sim/core/error.hpp"
#include "sim/core/io/input_files.hpp"
#include "sim/scenario/scenario.hpp"
#include "workload/exec_trace/chakra_trace.hpp"
#include "workload/exec_trace/kineto_trace.hpp"
#include "workload/exec_trace/trace_graph.hpp"

namespace hetsim::sim {
namespace {

namespace fs = std::filesystem;

/// A trace path as written in the scenario: "${HETSIM_SHARED_DATA}/..." under that environment
/// variable's folder; other relative paths against the scenario's folder.
std::string resolve_path(const config::Node& holder, const std::string& text, const std::string& scenario_file) {
  if (auto shared = config::shared_data_path(holder, text)) return *shared;
  fs::path p(text);
  if (p.is_relative()) p = fs::path(scenario_file).parent_path() / p;
  return p.lexically_normal().string();
}

/// `pattern` with its "{rank}" (at `at`) replaced by `rank`.
std::string expand(const std::string& pattern, std::size_t at, int rank) {
  return pattern.substr(0, at) + std::to_string(rank) + pattern.substr(at + 6);
}

/// replay.traces: a list of files (rank order) or one pattern with "{rank}".
std::vector<std::string> trace_paths(const config::Node& replay, const std::string& scenario_file, int ranks_given) {
  const config::Node traces = replay.child("traces");
  std::vector<std::string> out;
  if (traces.is_sequence()) {
    const auto items = traces.items();
    if (items.empty()) replay.fail_key("traces", "[]", "expected at least one trace file");
    if (items.size() > static_cast<std::size_t>(kMaxReplayRanks))
      replay.fail_key("traces", fmt::format("<{} files>", items.size()), fmt::format("expected at most {}", kMaxReplayRanks));
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is_scalar()) items[i].fail("expected a trace file path");
      const std::string p = resolve_path(items[i], items[i].scalar(), scenario_file);
      if (!input_files::is_file(p)) items[i].fail(fmt::format("{}: no such file ({})", items[i].scalar(), p));
      out.push_back(p);
    }
    return out;
  }
  if (!traces.is_scalar()) replay.fail_key("traces", traces.shown(), "expected a list of files or a pattern with {rank}");
  const std::string pattern = traces.scalar();
  const auto at = pattern.find("{rank}");
  if (at == std::string::npos) {
    const std::string p = resolve_path(traces, pattern, scenario_file);
    if (!input_files::is_file(p)) replay.fail_key("traces", pattern, fmt::format("no such file ({})", p));
    out.push_back(p);
    return out;
  }
  // A pattern: ranks 0, 1, ... while the files exist (up to replay.ranks when given).
  const int limit = ranks_given > 0 ? ranks_given : kMaxReplayRanks;
  for (int r = 0; r < limit; ++r) {
    const std::string p = resolve_path(traces, expand(pattern, at, r), scenario_file);
    if (!input_files::is_file(p)) break;
    out.push_back(p);
  }
  if (out.empty())
    replay.fail_key("traces", pattern,
                    fmt::format("no file for rank 0 ({})", resolve_path(traces, expand(pattern, at, 0), scenario_file)));
  return out;
}

}  // namespace

std::string ReplayScenario::describe() const {
  return fmt::format("{} x {} ({} node{} {}), {} {} trace{}{}", world_size, device->name, nodes.nodes,
                     nodes.nodes == 1 ? "" : "s", nodes.node->name, traces.size(), format, traces.size() == 1 ? "" : "s",
                     mirrored ? " (mirrored)" : "");
}

bool is_replay(const config::Document& doc) { return doc.root().has("replay"); }

hw::Cluster platform_of(const ReplayScenario& sc) { return cluster_platform(sc.nodes, sc.fabric); }

ReplayScenario load_replay_scenario(const config::Document& doc) {
  const config::Node root = doc.root();
  ReplayScenario sc;
  sc.file = doc.file();
  sc.name = scenario_name(root, doc.file());
  (void)root.get<unsigned long>("seed").default_to(1).value();  // accepted (--seed) though a replay draws nothing

  const config::Node replay = root.child("replay");
  sc.format = replay.get<std::string>("format").one_of({"chakra", "kineto"}).value();
  const int ranks_given = replay.has("ranks") ? replay.get<int>("ranks").in_range(1, kMaxReplayRanks).value() : 0;
  const bool mirror = replay.get<bool>("mirror").default_to(false);
  const std::string unknown = replay.get<std::string>("unknown_deps").default_to("error").one_of({"error", "drop"}).value();
  const bool ctrl_deps = replay.get<bool>("ctrl_deps").default_to(true);
  sc.host_issue = replay.get<bool>("host_issue").default_to(false);
  sc.iterations = replay.get<int>("iterations").default_to(1).in_range(1, 1000);
  const std::string dtype = replay.get<std::string>("dtype").default_to("bf16").value();
  const auto parsed_dtype = parse_dtype(dtype);
  if (!parsed_dtype) replay.fail_key("dtype", dtype, "expected one of fp32, tf32, bf16, fp16, fp8, int8");
  sc.dtype = *parsed_dtype;

  // The traces, read and checked now (validate fails as run would).
  const std::vector<std::string> paths = trace_paths(replay, doc.file(), ranks_given);
  std::size_t ops = 0;
  for (const auto& p : paths) {
    input_files::note(p);
    try {
      sc.traces.push_back(sc.format == "chakra" ? exec_trace::read_chakra_trace(p, {.ctrl_deps = ctrl_deps, .drop_unknown_deps = unknown == "drop"})
                                                : exec_trace::read_kineto_trace(p));
      sc.graphs.push_back(exec_trace::build_trace_graph(sc.traces.back()));  // every op can run: no unknown dependency, no cycle
    } catch (const InputError& e) {
      throw InputError(fmt::format("{}: {}", replay.locate("traces"), e.what()));
    }
    ops += sc.traces.back().ops.size();
    sc.dropped_deps += sc.traces.back().dropped_deps;
    if (ops > kMaxReplayOps)
      replay.fail_key("traces", p, fmt::format("the traces hold more than {} ops together; expected at most that", kMaxReplayOps));
  }
  const int files = static_cast<int>(paths.size());
  int recorded_world = files;
  for (const auto& t : sc.traces) recorded_world = std::max(recorded_world, t.world_size);
  sc.world_size = ranks_given > 0 ? ranks_given : std::min(recorded_world, kMaxReplayRanks);
  if (files > sc.world_size)
    replay.fail_key("ranks", std::to_string(sc.world_size), fmt::format("{} trace files were given; expected ranks >= {}", files, files));
  if (files < sc.world_size && !mirror)
    replay.fail_key("traces", fmt::format("<{} file{}>", files, files == 1 ? "" : "s"),
                    fmt::format("a trace per rank for {} ranks (or replay.mirror: true, so that rank r replays trace r mod {})",
                                sc.world_size, files));
  sc.mirrored = files < sc.world_size;
  for (int r = 0; r < sc.world_size; ++r) sc.trace_of_rank.push_back(r % files);

  // The cluster: its device, nodes and fabric, as training reads them.
  const config::Node cluster = root.child("cluster");
  sc.device = load_device(cluster);
  if (cluster.has("fabric")) sc.fabric = hw::parse_fabric(cluster.child("fabric"));
  sc.nodes = load_cluster_nodes(cluster, *sc.device, sc.world_size, sc.fabric);

  // What-if: compute measured on `recorded_on`, replayed on the cluster's device. GEMM and
  // attention scale with dense peak FLOP/s at `dtype`, everything else with memory bandwidth.
  if (replay.has("recorded_on")) {
    auto layered = catalog::with_preset(replay, "recorded_on", "hw/catalog");
    sc.recorded_on = std::make_shared<const hw::Device>(hw::parse_device(layered.node));
    layered.preset.check_unknown_keys();
  } else {
    sc.recorded_on = sc.device;
  }
  sc.time_scale.fill(1.0);
  if (sc.recorded_on->name != sc.device->name) {
    const double rec_peak = sc.recorded_on->peak(sc.dtype), dev_peak = sc.device->peak(sc.dtype);
    if (rec_peak <= 0 || dev_peak <= 0)
      replay.fail_key("dtype", dtype, fmt::format("{} has no {} peak to scale by", rec_peak <= 0 ? sc.recorded_on->name : sc.device->name, dtype));
    const double rec_bw = sc.recorded_on->memory().read_bandwidth, dev_bw = sc.device->memory().read_bandwidth;
    if (rec_bw <= 0 || dev_bw <= 0) replay.fail_key("recorded_on", sc.recorded_on->name, "a device with a memory bandwidth");
    for (OpClass c : {OpClass::gemm, OpClass::attention_prefill, OpClass::attention_decode})
      sc.time_scale[static_cast<std::size_t>(c)] = rec_peak / dev_peak;
    sc.time_scale[static_cast<std::size_t>(OpClass::elementwise)] = rec_bw / dev_bw;
  }

  const config::Node out = root.section("output");
  sc.timeline = out.get<bool>("timeline").default_to(false);
  doc.check_unknown_keys();
  sc.resolved = doc.resolved();
  return sc;
}

}  // namespace hetsim::sim
