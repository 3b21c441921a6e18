#include "sim/metrics/resilience_results.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "sim/core/io/atomic_file.hpp"

namespace hetsim::sim {
namespace {

double days(double seconds) { return seconds / 86400; }

}  // namespace

nlohmann::ordered_json resilience_json(const training::ResilienceReport& r, int gpus) {
  nlohmann::ordered_json j;
  const auto& in = r.inputs;
  j["trials"] = r.trials;
  j["iterations"] = in.iterations;
  j["interval_iterations"] = in.interval;
  j["interval_s"] = static_cast<double>(in.interval) * in.iteration;
  j["mtbf_h"] = r.mtbf / 3600;
  j["young_interval_s"] = r.young;
  j["daly_interval_s"] = r.daly;
  j["young_interval_iterations"] = r.young_iterations;
  j["best_interval_iterations"] = r.best_interval;
  j["checkpoint_cost_s"] = in.stall;
  j["persist_s"] = in.persist;
  j["recovery"] = {{"detection_s", in.recovery.detection}, {"restart_s", in.recovery.restart},
                   {"reload_s", in.recovery.reload},
                   {"spare_nodes", in.recovery.spare_nodes < 0 ? nlohmann::ordered_json("unlimited")
                                                              : nlohmann::ordered_json(in.recovery.spare_nodes)},
                   {"repair_s", in.recovery.repair}};
  j["goodput"] = r.goodput.mean;
  j["goodput_ci95"] = r.goodput.half_width;
  j["time_to_train_days"] = days(r.wall.mean);
  j["time_to_train_days_ci95"] = days(r.wall.half_width);
  j["failures"] = r.failures.mean;
  j["finished"] = r.all_finished;
  const double gh = gpus / 3600.0;
  const auto& m = r.mean;
  j["gpu_hours"] = {{"useful", m.useful * gh}, {"lost_compute", m.lost * gh}, {"checkpoint", m.checkpoint * gh},
                    {"detection", m.detection * gh}, {"waiting_for_nodes", m.waiting * gh}, {"restart", m.restart * gh},
                    {"reload", m.reload * gh}};
  nlohmann::ordered_json causes = nlohmann::ordered_json::object();
  for (std::size_t c = 0; c < r.causes.size(); ++c) causes[r.causes[c].name] = m.cause_seconds[c] * gh;
  j["wasted_gpu_hours_by_cause"] = causes;
  nlohmann::ordered_json sweep = nlohmann::ordered_json::array();
  for (const auto& p : r.sweep)
    sweep.push_back({{"interval_iterations", p.interval}, {"goodput", p.goodput.mean}, {"goodput_ci95", p.goodput.half_width}});
  j["interval_sweep"] = sweep;
  return j;
}

void write_failures(const std::string& dir, const training::ResilienceReport& r) {
  namespace fs = std::filesystem;
  const auto& causes = r.causes;
  {
    AtomicFile f((fs::path(dir) / "failures.csv").string());
    f.write("time_h,cause,replaces_node,lost_compute_h,downtime_h,restored_iteration\n");
    for (const auto& e : r.first.events) {
      const auto& c = causes[static_cast<std::size_t>(e.cause)];
      f.print("{:.6f},{},{},{:.6f},{:.6f},{}\n", e.time / 3600, c.name, c.replaces_node ? "true" : "false", e.lost / 3600,
              e.downtime / 3600, e.restored);
    }
    f.commit();
  }
  AtomicFile f((fs::path(dir) / "failures_timeline.json").string());
  f.write("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n");
  f.write("{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":0,\"args\":{\"name\":\"job (trial 0)\"}}");
  f.write(",\n{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":0,\"tid\":0,\"args\":{\"name\":\"training\"}}");
  f.write(",\n{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":0,\"tid\":1,\"args\":{\"name\":\"failures\"}}");
  double resumed = 0;
  const auto stretch = [&](double end) {
    if (end > resumed)
      f.print(",\n{{\"ph\":\"X\",\"pid\":0,\"tid\":0,\"name\":\"training\",\"ts\":{:.0f},\"dur\":{:.0f}}}", resumed * 1e6,
              (end - resumed) * 1e6);
  };
  for (const auto& e : r.first.events) {
    stretch(e.time);
    const auto& name = causes[static_cast<std::size_t>(e.cause)].name;
    f.print(",\n{{\"ph\":\"i\",\"s\":\"t\",\"pid\":0,\"tid\":1,\"name\":\"{}\",\"ts\":{:.0f},"
            "\"args\":{{\"lost_compute_h\":{:.4f},\"restored_iteration\":{}}}}}",
            name, e.time * 1e6, e.lost / 3600, e.restored);
    f.print(",\n{{\"ph\":\"X\",\"pid\":0,\"tid\":1,\"name\":\"recovery: {}\",\"ts\":{:.0f},\"dur\":{:.0f}}}", name,
            e.time * 1e6, e.downtime * 1e6);
    resumed = e.time + e.downtime;
  }
  stretch(r.first.wall);
  f.write("\n]}\n");
  f.commit();
}

std::string resilience_summary_lines(const training::ResilienceReport& r, int gpus, double train_tokens) {
  std::string out;
  const auto& in = r.inputs;
  const auto minutes = [&](double iterations) { return iterations * in.iteration / 60; };
  out += fmt::format("  failures    MTBF {:.2f} h at {} GPUs; checkpoint every {} iterations ({:.1f} min; Young {:.1f} min, "
                     "Daly {:.1f} min, best of the sweep {} iterations)\n",
                     r.mtbf / 3600, gpus, in.interval, minutes(static_cast<double>(in.interval)), r.young / 60,
                     r.daly / 60, r.best_interval);
  out += fmt::format("  goodput     {:.2f}% +/- {:.2f}% over {} trials: {:.4g} tokens in {:.2f} +/- {:.2f} days, {:.0f} "
                     "failures{}\n",
                     100 * r.goodput.mean, 100 * r.goodput.half_width, r.trials, train_tokens, days(r.wall.mean),
                     days(r.wall.half_width), r.failures.mean, r.all_finished ? "" : " (some trials did not finish)");
  const double gh = gpus / 3600.0;
  const auto& m = r.mean;
  out += fmt::format("  lost        GPU-hours per run: {:.3g} compute redone, {:.3g} checkpoint stalls, {:.3g} detection, "
                     "{:.3g} waiting for nodes, {:.3g} restart, {:.3g} reload\n",
                     m.lost * gh, m.checkpoint * gh, m.detection * gh, m.waiting * gh, m.restart * gh, m.reload * gh);
  return out;
}

}  // namespace hetsim::sim
