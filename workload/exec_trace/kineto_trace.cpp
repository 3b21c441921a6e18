#include "workload/exec_trace/kineto_trace.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <unordered_map>

#include "sim/core/error.hpp"
#include "sim/core/io/input_files.hpp"
#include "workload/exec_trace/json_file.hpp"
#include "workload/exec_trace/kineto_comm.hpp"
#include "workload/exec_trace/kineto_deps.hpp"
#include "workload/exec_trace/kineto_names.hpp"

namespace hetsim::exec_trace {
namespace {

using nlohmann::json;

/// A GPU activity (kernel, memcpy, memset) and its launch, as read.
struct GpuEvent {
  std::size_t index = 0;  // in traceEvents
  const json* event = nullptr;
  std::string name;
  int stream = 0;
  double ts = 0, dur = 0;  // µs
  const json* launch = nullptr;  // the cuda_runtime / cuda_driver call with the same correlation
};

std::string event_name(const json& e) { return e.contains("name") && e["name"].is_string() ? e["name"].get<std::string>() : ""; }

/// `key` of `e` as a finite number, or InputError naming the event.
double required_number(const json& e, const char* key, const std::string& where) {
  const auto it = e.find(key);
  if (it == e.end()) throw InputError(fmt::format("{}: no '{}'", where, key));
  if (!it->is_number()) throw InputError(fmt::format("{}: '{}' is {}, expected a number", where, key, it->dump()));
  const double v = it->get<double>();
  if (!std::isfinite(v)) throw InputError(fmt::format("{}: '{}' is not finite", where, key));
  return v;
}

std::optional<std::int64_t> int_arg(const json& e, const char* key) {
  const auto args = e.find("args");
  if (args == e.end() || !args->is_object()) return std::nullopt;
  const auto it = args->find(key);
  if (it == args->end() || !it->is_number_integer()) return std::nullopt;
  return it->get<std::int64_t>();
}

/// rank and world_size from `distributedInfo` (defaults 0 and 1: a single-process trace).
void read_distributed_info(const json& doc, const std::string& path, RankTrace& out) {
  const auto it = doc.find("distributedInfo");
  if (it == doc.end() || it->is_null()) return;
  if (!it->is_object()) throw InputError(path + ": distributedInfo is not an object");
  auto get = [&](const char* key, int fallback) {
    const auto v = it->find(key);
    if (v == it->end()) return fallback;
    if (!v->is_number_integer() || v->get<std::int64_t>() < 0 || v->get<std::int64_t>() > 1'000'000'000)
      throw InputError(fmt::format("{}: distributedInfo.{} = {}: expected a non-negative integer", path, key, v->dump()));
    return static_cast<int>(v->get<std::int64_t>());
  };
  out.rank = get("rank", 0);
  out.world_size = get("world_size", 1);
  if (out.world_size < 1 || out.rank >= out.world_size)
    throw InputError(fmt::format("{}: distributedInfo: rank {} is not below world_size {}", path, out.rank, out.world_size));
}

bool is_gpu_activity(const std::string& cat) { return cat == "kernel" || cat == "gpu_memcpy" || cat == "gpu_memset"; }

/// Host calls that wait for GPU work (CUDA runtime API names).
bool is_host_sync(const std::string& name) {
  return name == "cudaDeviceSynchronize" || name == "cudaStreamSynchronize" || name == "cudaEventSynchronize" ||
         name == "cudaCtxSynchronize";
}

}  // namespace

RankTrace read_kineto_trace(const std::string& path) {
  input_files::note(path);
  const json doc = read_json_file(path);
  if (!doc.is_object()) throw InputError(path + ": not a PyTorch profiler trace (expected a JSON object with traceEvents)");
  const auto events_it = doc.find("traceEvents");
  if (events_it == doc.end()) throw InputError(path + ": no traceEvents; not a PyTorch profiler (Kineto) trace");
  if (!events_it->is_array()) throw InputError(path + ": traceEvents is not an array");
  const json& events = *events_it;

  RankTrace trace;
  trace.source = path;
  read_distributed_info(doc, path, trace);

  std::vector<GpuEvent> gpu;
  std::unordered_map<std::int64_t, const json*> launches;   // correlation -> runtime / driver call
  std::unordered_map<std::int64_t, const json*> gpu_syncs;  // correlation -> cuda_sync activity
  std::vector<const json*> host_calls;                      // syncs and stream waits, in trace order
  kineto::CommOps comm_ops;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const json& e = events[i];
    if (!e.is_object()) throw InputError(fmt::format("{}: traceEvents[{}] is not an object", path, i));
    const auto ph = e.find("ph");
    // Only complete events ("X") carry durations; metadata, instant and flow events are ignored.
    if (ph == e.end() || *ph != "X") continue;
    const std::string name = event_name(e);
    const std::string where = name.empty() ? fmt::format("{}: traceEvents[{}]", path, i) : fmt::format("{}: traceEvents[{}] ('{}')", path, i, name);
    const double ts = required_number(e, "ts", where);
    const double dur = required_number(e, "dur", where);
    if (dur < 0) throw InputError(fmt::format("{}: negative dur {}", where, dur));
    const auto cat_it = e.find("cat");
    const std::string cat = cat_it != e.end() && cat_it->is_string() ? cat_it->get<std::string>() : "";
    if (is_gpu_activity(cat)) {
      const auto stream = int_arg(e, "stream");
      if (!stream) throw InputError(fmt::format("{}: {} without an integer args.stream", where, cat));
      if (*stream < std::numeric_limits<int>::min() || *stream > std::numeric_limits<int>::max())
        throw InputError(fmt::format("{}: args.stream {} out of range", where, *stream));
      gpu.push_back({i, &e, name, static_cast<int>(*stream), ts, dur, nullptr});
    } else if (cat == "cuda_runtime" || cat == "cuda_driver") {
      if (const auto corr = int_arg(e, "correlation")) launches.emplace(*corr, &e);
      if (is_host_sync(name) || name == "cudaStreamWaitEvent") host_calls.push_back(&e);
    } else if (cat == "cuda_sync") {
      if (const auto corr = int_arg(e, "correlation")) gpu_syncs.emplace(*corr, &e);
    } else if (cat == "cpu_op" || cat == "user_annotation") {
      comm_ops.add_if_comm(e, name);
    }
  }
  if (gpu.empty()) return trace;  // a CPU-only trace: nothing to replay
  comm_ops.sort();

  // One origin for start and issue: the earliest of the GPU ops' starts and their launches, so that
  // issue <= start keeps the host's lead, every time is >= 0 and -1 stays the only "no launch".
  double origin = std::numeric_limits<double>::infinity();
  for (auto& g : gpu) {
    origin = std::min(origin, g.ts);
    if (const auto corr = int_arg(*g.event, "correlation"))
      if (const auto it = launches.find(*corr); it != launches.end()) {
        g.launch = it->second;
        origin = std::min(origin, (*g.launch)["ts"].get<double>());
      }
  }

  // Sort by start, then stream, then trace order: ids are positions in this order.
  std::vector<std::size_t> order(gpu.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (gpu[a].ts != gpu[b].ts) return gpu[a].ts < gpu[b].ts;
    return gpu[a].stream < gpu[b].stream;
  });

  trace.ops.reserve(gpu.size());
  std::vector<kineto::LaunchedOp> launched;
  launched.reserve(gpu.size());
  for (std::size_t pos = 0; pos < order.size(); ++pos) {
    const GpuEvent& g = gpu[order[pos]];
    TraceOp op;
    op.id = pos;
    op.name = g.name;
    op.stream = g.stream;
    // µs relative to the origin first, then seconds: keeps the sub-µs digits of epoch-sized stamps.
    op.start = (g.ts - origin) * 1e-6;
    op.duration = g.dur * 1e-6;
    const double launch_ts = g.launch ? (*g.launch)["ts"].get<double>() : g.ts;
    if (g.launch) op.issue = (launch_ts - origin) * 1e-6;
    if (kineto::is_nccl_kernel(g.name)) {
      kineto::apply_comm_info(*g.event, g.launch, comm_ops, fmt::format("{}: traceEvents[{}] ('{}')", path, g.index, g.name), op);
    } else {
      op.kind = TraceOpKind::compute;
      op.cls = kineto::kernel_class(g.name);
    }
    trace.ops.push_back(std::move(op));
    // An op without a recorded launch takes its GPU start, an upper bound of the launch time.
    launched.push_back({g.stream, launch_ts});
  }

  // Synchronisation points from the host calls; the stream a call waited on comes from the
  // matching cuda_sync activity when the trace has them (PyTorch >= 2.4 with
  // enable_cuda_sync_events); without it a stream or event sync is taken as a device sync, the
  // conservative reading (the replayed host never runs ahead of what it may have waited for).
  std::vector<kineto::SyncPoint> syncs;
  for (const json* call : host_calls) {
    const std::string name = event_name(*call);
    const double ts = (*call)["ts"].get<double>();
    const double end = ts + (*call)["dur"].get<double>();
    const json* activity = nullptr;
    if (const auto corr = int_arg(*call, "correlation"))
      if (const auto it = gpu_syncs.find(*corr); it != gpu_syncs.end()) activity = it->second;
    if (name == "cudaStreamWaitEvent") {
      // A GPU-side edge needs the waiting stream, the recording stream and the cudaEventRecord's
      // time; only cuda_sync activities record them. Without them the edge cannot be recovered.
      if (!activity) continue;
      const auto consumer = int_arg(*activity, "stream");
      const auto producer = int_arg(*activity, "wait_on_stream");
      const auto record = int_arg(*activity, "wait_on_cuda_event_record_corr_id");
      if (!consumer || !producer || !record || *consumer < 0 || *producer < 0) continue;
      const auto rec = launches.find(*record);
      if (rec == launches.end()) continue;
      syncs.push_back({(*rec->second)["ts"].get<double>(), ts, {static_cast<int>(*producer)}, static_cast<int>(*consumer)});
      continue;
    }
    kineto::SyncPoint s{ts, end, {}, -1};
    if (activity && name != "cudaDeviceSynchronize" && name != "cudaCtxSynchronize") {
      // Stream Sync: the stream synchronised; Event Sync: the stream the event was recorded on.
      const auto stream = name == "cudaStreamSynchronize" ? int_arg(*activity, "stream") : int_arg(*activity, "wait_on_stream");
      if (stream && *stream >= 0) s.waited_streams.push_back(static_cast<int>(*stream));
    }
    syncs.push_back(std::move(s));
  }
  const auto deps = kineto::sync_dependencies(launched, syncs);
  for (std::size_t i = 0; i < deps.size(); ++i)
    for (std::size_t d : deps[i])
      // Ids follow the recorded starts; a waited op that the recorded times put at or after its
      // dependant (clock skew between host and device records) carries no usable order, so the
      // edge is dropped rather than pointing forward.
      if (d < i) trace.ops[i].deps.push_back(d);
  return trace;
}

}  // namespace hetsim::exec_trace
