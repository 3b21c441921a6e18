#include "sim/metrics/replay_results.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "sim/core/io/atomic_file.hpp"

namespace hetsim::sim {

ReplaySummary summarize(const ReplayRunInfo&, const ReplayRecords& records) {
  ReplaySummary s;
  const double iters = std::max(1, records.iterations);
  s.iteration_time = records.makespan / iters;
  const double n = std::max<std::size_t>(1, records.ranks.size());
  for (const auto& r : records.ranks) {
    s.compute += r.compute / iters / n;
    s.comm += r.comm / iters / n;
    s.exposed_comm += r.exposed_comm / iters / n;
    s.idle += r.idle / iters / n;
    s.max_exposed_comm = std::max(s.max_exposed_comm, r.exposed_comm / iters);
    s.p2p_messages += r.p2p;
    s.p2p_bytes += r.p2p_bytes;
  }
  s.collectives = records.collectives.size();
  for (const auto& c : records.collectives) s.collective_bytes += c.bytes;
  return s;
}

namespace {
std::string quoted(const std::string& s) { return nlohmann::json(s).dump(); }

std::string track_name(int track) {
  if (track == ReplaySpan::kComputeTrack) return "compute";
  if (track == ReplaySpan::kCommTrack) return "communication";
  return fmt::format("stream {}", track);
}

/// Chrome trace thread id of a track: compute 0, communication 1, recorded streams from 2 on.
int tid_of(int track) { return track == ReplaySpan::kComputeTrack ? 0 : track == ReplaySpan::kCommTrack ? 1 : track + 2; }
}  // namespace

void write_replay_results(const std::string& dir, const ReplayRunInfo& info, const ReplayRecords& records,
                          const ReplaySummary& summary) {
  namespace fs = std::filesystem;
  const auto path = [&](const char* name) { return (fs::path(dir) / name).string(); };
  const double per = 1.0 / std::max(1, records.iterations);
  {
    AtomicFile f(path("ranks.csv"));
    f.write("rank,trace,compute_s,comm_s,exposed_comm_s,idle_s,end_s,ops,collectives,collective_bytes,p2p_messages,p2p_bytes\n");
    for (const auto& r : records.ranks)
      f.print("{},{},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g},{},{},{:.17g},{},{:.17g}\n", r.rank,
              fs::path(r.trace).filename().string(), r.compute * per, r.comm * per, r.exposed_comm * per, r.idle * per,
              r.end, r.ops, r.collectives, r.collective_bytes, r.p2p, r.p2p_bytes);
    f.commit();
  }
  {
    AtomicFile f(path("collectives.csv"));
    f.write("group,seq,kind,bytes,members,start_s,end_s,time_s\n");
    for (const auto& c : records.collectives)
      f.print("{},{},{},{:.17g},{},{:.9g},{:.9g},{:.9g}\n", c.group.empty() ? "all" : c.group, c.seq, to_string(c.kind),
              c.bytes, c.members, c.start, c.end, c.end - c.start);
    f.commit();
  }
  {
    nlohmann::ordered_json j;
    j["scenario"] = info.scenario;
    j["file"] = info.file;
    j["kind"] = "replay";
    j["format"] = info.format;
    j["cluster"] = info.cluster;
    j["device"] = info.device;
    j["recorded_on"] = info.recorded_on;
    j["ranks"] = info.ranks;
    j["trace_files"] = info.trace_files;
    j["mirrored"] = info.mirrored;
    j["host_issue"] = info.host_issue;
    j["trace_ops"] = info.trace_ops;
    j["dropped_deps"] = info.dropped_deps;
    j["compute_scale"] = {{"gemm", info.scale_gemm}, {"attention", info.scale_attention}, {"elementwise", info.scale_elementwise}};
    nlohmann::ordered_json t;
    t["iterations"] = records.iterations;
    t["iteration_time_s"] = summary.iteration_time;
    t["makespan_s"] = records.makespan;
    t["mean_per_rank"] = {{"compute_s", summary.compute}, {"comm_s", summary.comm}, {"exposed_comm_s", summary.exposed_comm},
                          {"idle_s", summary.idle}};
    t["max_exposed_comm_s"] = summary.max_exposed_comm;
    t["collectives"] = summary.collectives;
    t["collective_bytes"] = summary.collective_bytes;
    t["p2p_messages"] = summary.p2p_messages;
    t["p2p_bytes"] = summary.p2p_bytes;
    nlohmann::ordered_json per_rank = nlohmann::ordered_json::array();
    for (const auto& r : records.ranks)
      per_rank.push_back({{"rank", r.rank}, {"compute_s", r.compute * per}, {"comm_s", r.comm * per},
                          {"exposed_comm_s", r.exposed_comm * per}, {"idle_s", r.idle * per}});
    t["per_rank"] = per_rank;
    j["replay"] = t;
    j["engine"] = {{"flows", records.flows}};
    AtomicFile f(path("summary.json"));
    f.write(j.dump(2) + "\n");
    f.commit();
  }
  {
    AtomicFile f(path("resolved.yaml"));
    f.write(info.resolved_yaml);
    f.commit();
  }
  if (!records.spans.empty()) {
    // Chrome trace (chrome://tracing, ui.perfetto.dev): a process per rank, a thread per stream.
    std::map<int, std::set<int>> tracks;
    for (const auto& sp : records.spans) tracks[sp.rank].insert(sp.track);
    AtomicFile f(path("timeline.json"));
    f.write("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n");
    bool first = true;
    for (const auto& [rank, ts] : tracks) {
      f.print("{}{{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":{},\"args\":{{\"name\":\"rank {}\"}}}}", first ? "" : ",\n",
              rank, rank);
      first = false;
      for (int track : ts)
        f.print(",\n{{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":{},\"tid\":{},\"args\":{{\"name\":\"{}\"}}}}", rank,
                tid_of(track), track_name(track));
    }
    for (const auto& sp : records.spans)
      f.print(",\n{{\"ph\":\"X\",\"pid\":{},\"tid\":{},\"name\":{},\"ts\":{:.3f},\"dur\":{:.3f}}}", sp.rank, tid_of(sp.track),
              quoted(sp.name), sp.start * 1e6, (sp.end - sp.start) * 1e6);
    f.write("\n]}\n");
    f.commit();
  }
}

std::string replay_summary_table(const ReplayRunInfo& info, const ReplaySummary& s) {
  std::string out;
  out += fmt::format("  replay      {}: {}\n", info.scenario, info.cluster);
  if (info.recorded_on != info.device)
    out += fmt::format("  what-if     recorded on {}: compute x{:.3g} (gemm/attention), x{:.3g} (elementwise)\n",
                       info.recorded_on, info.scale_gemm, info.scale_elementwise);
  out += fmt::format("  iteration   {:.6g} ms\n", s.iteration_time * 1e3);
  out += fmt::format("  per rank    compute {:.6g} ms | comm {:.6g} ms | exposed comm {:.6g} ms | idle {:.6g} ms (means)\n",
                     s.compute * 1e3, s.comm * 1e3, s.exposed_comm * 1e3, s.idle * 1e3);
  out += fmt::format("  collectives {} ({:.4g} MB per member)", s.collectives, s.collective_bytes / 1e6);
  if (s.p2p_messages > 0) out += fmt::format(" | p2p {} messages ({:.4g} MB)", s.p2p_messages, s.p2p_bytes / 1e6);
  out += "\n";
  return out;
}

}  // namespace hetsim::sim
