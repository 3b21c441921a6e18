#include "sweep/sweep_command.hpp"

#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <mutex>
#include <random>
#include <nlohmann/json.hpp>
#include <thread>

#include "sim/core/io/atomic_file.hpp"
#include "sim/core/catalog.hpp"
#include "sim/core/error.hpp"
#include "sim/core/io/child_process.hpp"
#include "sim/core/interrupt.hpp"
#include "sim/core/io/input_files.hpp"
#include "sweep/inputs.hpp"
#include "sweep/parallel.hpp"
#include "sweep/point_runner.hpp"
#include "sweep/best_point.hpp"
#include "sweep/points_table.hpp"
#include "sweep/progress.hpp"
#include "sweep/search.hpp"
#include "sweep/shard.hpp"

namespace hetsim::sweep {
namespace fs = std::filesystem;

namespace {

void write_description(const Spec& spec, const sim::Slo& slo, const std::string& out) {
  nlohmann::ordered_json j;
  j["spec"] = fs::absolute(spec.file).lexically_normal().string();
  j["base"] = spec.base;
  j["mode"] = spec.mode;
  j["axes"] = nlohmann::ordered_json::array();
  for (const auto& a : spec.axes) {
    nlohmann::ordered_json values = nlohmann::ordered_json::array();
    for (const auto& v : a.values) {
      const auto parsed = nlohmann::ordered_json::parse(v, nullptr, false);
      values.push_back(parsed.is_number() ? parsed : nlohmann::ordered_json(v));
    }
    j["axes"].push_back({{"key", a.key}, {"values", values}});
  }
  j["points"] = spec.points.size();
  nlohmann::ordered_json s = nlohmann::ordered_json::object();
  if (slo.ttft) s["ttft"] = *slo.ttft;
  if (slo.tpot) s["tpot"] = *slo.tpot;
  if (slo.e2e) s["e2e"] = *slo.e2e;
  j["slo"] = s;
  if (spec.search) {
    nlohmann::ordered_json targets = nlohmann::ordered_json::object();
    for (const auto& t : spec.search->slo) targets[t.label] = t.limit;
    j["search"] = {{"axis", spec.search->axis}, {"lo", spec.search->lo}, {"hi", spec.search->hi}, {"slo", targets}};
  }
  AtomicFile f((fs::path(out) / "sweep.json").string());
  f.write(j.dump(2) + "\n");
  f.commit();
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : sep) + i;
  return s;
}

/// "7 of 8 points ok, 1 failed (p0003; log: OUT/points/p0003/log.txt)".
std::string count_text(const PointsCount& c, std::size_t total, const std::string& out) {
  std::string text = fmt::format("{} of {} points ok", c.ok, total);
  if (!c.failed.empty()) {
    std::vector<std::string> shown(c.failed.begin(), c.failed.begin() + std::min<std::size_t>(c.failed.size(), 5));
    if (c.failed.size() > shown.size()) shown.push_back("...");
    const auto log = (fs::path(out) / "points" / (c.failed.size() == 1 ? c.failed[0] : "<point>") / "log.txt").string();
    text += fmt::format(", {} failed ({}; log{}: {})", c.failed.size(), join(shown, ", "), c.failed.size() == 1 ? "" : "s", log);
  }
  if (!c.infeasible.empty())
    text += fmt::format(", {} infeasible (the training plan does not fit: {}/points/<point>/infeasible.txt)",
                        c.infeasible.size(), out);
  if (!c.missing.empty()) text += fmt::format(", {} not run", c.missing.size());
  return text;
}

/// Discards what earlier runs of a sweep left under `out` (--restart).
void discard_results(const std::string& out) {
  for (const char* name : {"points", "search", "points.csv", "best.json", "max_rate.csv", "cheapest.json", "inputs.json"}) {
    std::error_code ec;
    fs::remove_all(fs::path(out) / name, ec);
    if (ec) throw InputError(fmt::format("--restart: cannot remove {} ({})", (fs::path(out) / name).string(), ec.message()));
  }
}

/// Compares the sweep's input fingerprint with the one recorded in OUT/inputs.json when its points
/// started; records it if there is none. Points are only ever created after inputs.json.
void check_inputs(const Inputs& now, const std::string& out, bool sharded, bool merge) {
  const std::string path = (fs::path(out) / "inputs.json").string();
  const std::string advice =
      sharded || merge ? fmt::format("use a new --out, or delete {} and run every shard again", out)
                       : "rerun with --restart to discard the old points and run them all again, or use a new --out";
  Inputs before;
  if (!Inputs::load(path, before)) {
    const bool has_points = fs::exists(fs::path(out) / "points") || fs::exists(fs::path(out) / "search");
    if (has_points && !Inputs::load(path, before))
      throw InputError(fmt::format("{}: holds points but no inputs.json (written by an older hetsim), so whether the "
                                   "sweep's inputs changed since cannot be checked; {}",
                                   out, advice));
    if (!has_points) {
      if (merge) return;
      // Shards may record it at the same time (the same text): each through its own temporary file.
      const std::string tmp = fmt::format("{}.tmp-{}-{:08x}", path, ::getpid(), std::random_device{}());
      {
        std::ofstream f(tmp, std::ios::binary);
        f << now.to_json();
        if (!f.flush()) throw InputError(fmt::format("{}: cannot write", tmp));
      }
      fs::rename(tmp, path);
      return;
    }
  }
  const auto diffs = differences(before, now);
  if (diffs.empty()) return;
  throw InputError(fmt::format("{}: the sweep's inputs changed since its points were run: {}. Resuming would mix "
                               "points of both in points.csv; {}",
                               out, join(diffs, "; "), advice));
}

void emit_slurm(const Spec& spec, const SweepOptions& o) {
  const std::size_t units = spec.points.size();
  const std::size_t tasks = std::min<std::size_t>(o.shards ? o.shards : std::min<std::size_t>(units, 1000), units);
  const std::string exe = self_executable();
  const std::string spec_path = fs::absolute(spec.file).lexically_normal().string();
  const std::string out = fs::absolute(o.out).lexically_normal().string();
  const std::string path = (fs::path(out) / "sweep.sbatch").string();
  AtomicFile f(path);
  f.print("#!/bin/bash\n"
          "# hetsim sweep as a SLURM job array: task i runs the points p with p mod {0} == i.\n"
          "# Submit:  sbatch {1}\n"
          "# Then:    {2} sweep {3} --out {4} --merge\n"
          "#SBATCH --job-name=hetsim-sweep\n"
          "#SBATCH --array=0-{5}\n"
          "#SBATCH --ntasks=1\n"
          "#SBATCH --cpus-per-task=1\n"
          "#SBATCH --output={7}/slurm-%A_%a.out\n"
          "set -euo pipefail\n"
          "export HETSIM_HOME={6}\n"
          "export SLURM_ARRAY_TASK_COUNT=${{SLURM_ARRAY_TASK_COUNT:-{0}}}\n"
          "exec {2} sweep {3} --out {4} -j 1\n",
          tasks, shell_quote(path), shell_quote(exe), shell_quote(spec_path), shell_quote(out), tasks - 1,
          shell_quote(catalog::root()), out);
  f.commit();
  fs::permissions(path, fs::perms::owner_exec | fs::perms::group_exec, fs::perm_options::add);
  fmt::print("wrote {} ({} array tasks for {} {})\n", path, tasks, units, spec.search ? "configurations" : "points");
}

int run_points(const Spec& spec, const PointRunner& runner, const Shard& shard, unsigned jobs, const SweepOptions& o) {
  std::vector<std::size_t> mine, todo;
  for (std::size_t i = 0; i < spec.points.size(); ++i)
    if (shard.owns(i)) mine.push_back(i);
  for (auto i : mine) {
    const auto& p = spec.points[i];
    if (!runner.finished("points/" + p.name, runner.with_fixed(p.params))) todo.push_back(i);
  }
  Progress progress(todo.size(), mine.size() - todo.size(), o.quiet);
  std::mutex errors_mutex;
  std::vector<std::string> errors;
  parallel_for(todo.size(), jobs, [&](std::size_t k) {
    const auto& p = spec.points[todo[k]];
    const auto outcome = runner.run("points/" + p.name, runner.with_fixed(p.params));
    progress.finished(p.name, outcome.ok || outcome.infeasible, outcome.seconds);
    if (!outcome.ok && !outcome.infeasible) {
      std::lock_guard lock(errors_mutex);
      errors.push_back(fmt::format("{}: {} (log: {}/log.txt)", p.name, outcome.error, runner.folder("points/" + p.name)));
    }
  });
  progress.close();
  for (const auto& e : errors) fmt::print(stderr, "sweep: point failed: {}\n", e);
  if (shard.sharded()) {
    if (!o.quiet || !errors.empty())
      fmt::print("shard {}/{} ({}): {} point(s) done{}; when all shards are done: hetsim sweep {} --out {} --merge\n",
                 shard.index, shard.count, shard.source, mine.size(),
                 errors.empty() ? "" : fmt::format(", {} failed (see above)", errors.size()), spec.file, o.out);
    return errors.empty() ? 0 : 1;
  }
  const auto count = write_points_csv(spec, runner, o.out, false);
  if (!o.quiet || !count.failed.empty())
    fmt::print("sweep: {}; wrote {}/points.csv\n", count_text(count, spec.points.size(), o.out), o.out);
  if (spec.best) fmt::print("{}", write_best(*spec.best, count.rows, o.out));
  return errors.empty() && count.failed.empty() ? 0 : 1;
}

std::string probe_folder(const Point& config, int index) { return fmt::format("search/{}/r{:02d}", config.name, index); }

std::vector<Assignment> probe_assignments(const Spec& spec, const PointRunner& runner, const Point& config, double rate) {
  auto params = config.params;
  params.push_back({spec.search->axis, fmt::format("{}", rate), fmt::format("{}: search.axis", spec.search->origin)});
  return runner.with_fixed(params);
}

int run_search(const Spec& spec, const PointRunner& runner, const Shard& shard, unsigned jobs, const SweepOptions& o,
               bool merge_only) {
  std::vector<SearchResult> results(spec.points.size());
  std::vector<std::size_t> mine;
  for (std::size_t i = 0; i < spec.points.size(); ++i)
    if (merge_only || shard.owns(i)) mine.push_back(i);
  Progress progress(mine.size(), 0, o.quiet || merge_only);
  parallel_for(mine.size(), merge_only ? 1 : jobs, [&](std::size_t k) {
    const auto& config = spec.points[mine[k]];
    results[mine[k]] = bisect(*spec.search, config.name, [&](double rate, int index) -> std::optional<std::string> {
      const auto rel = probe_folder(config, index);
      const auto assignments = probe_assignments(spec, runner, config, rate);
      if (merge_only) {
        if (!runner.finished(rel, assignments))
          throw InputError(fmt::format("{}: search probe not run yet; run the remaining shards first", runner.folder(rel)));
        return runner.folder(rel);
      }
      const auto outcome = runner.run(rel, assignments);
      if (!outcome.ok) return std::nullopt;
      return runner.folder(rel);
    });
    progress.finished(config.name, results[mine[k]].status != "failed", 0);
  });
  progress.close();
  std::vector<std::string> failed;
  for (auto i : mine)
    if (results[i].status == "failed") failed.push_back(spec.points[i].name);
  if (shard.sharded() && !merge_only) {
    if (!o.quiet || !failed.empty())
      fmt::print("shard {}/{}: {} configuration(s) searched{}; then --merge\n", shard.index, shard.count, mine.size(),
                 failed.empty() ? "" : fmt::format(", {} failed ({})", failed.size(), join(failed, ", ")));
    return failed.empty() ? 0 : 1;
  }
  fmt::print("{}", write_search_results(spec, results, o.out));
  if (failed.empty()) return 0;
  fmt::print("sweep: {} of {} configurations ok, {} failed ({}; logs: {}/search/<configuration>/rNN/log.txt)\n",
             spec.points.size() - failed.size(), spec.points.size(), failed.size(), join(failed, ", "), o.out);
  return 1;
}

}  // namespace

int run_sweep_command(const SweepOptions& o) {
  // SIGINT/SIGTERM: forwarded to the running points (each stops and removes its temporary
  // folder); no new point starts; exit 130/143.
  interrupt::install();
  const Spec spec = Spec::load(o.spec);
  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec) throw InputError(fmt::format("--out {}: cannot create folder ({})", o.out, ec.message()));
  if (o.emit_slurm) {
    emit_slurm(spec, o);
    return 0;
  }
  const PointRunner runner(spec, o.out);
  const Shard shard = o.merge ? Shard{} : detect_shard();
  if (o.restart && (o.merge || shard.sharded()))
    throw InputError(fmt::format("--restart {}: would discard the points of every shard; delete {} and run every shard "
                                 "again, or use a new --out",
                                 o.merge ? "with --merge" : fmt::format("in shard {}/{} ({})", shard.index, shard.count, shard.source),
                                 o.out));
  // Validate every run up front (in-process, nothing simulated) so a bad axis value is reported
  // against the sweep file before any work starts.
  // Each validation also gives the point's effective configuration and the files it reads: the
  // sweep's input fingerprint.
  sim::Slo slo;
  Inputs inputs;
  inputs.spec_file = fs::absolute(spec.file).lexically_normal().string();
  inputs.spec_hash = input_files::file_hash(spec.file);
  for (const auto& p : spec.points) {
    try {
      std::string resolved;
      auto take = [&](const Validation& v) {
        slo = v.slo;
        resolved += v.resolved + "\n---\n";
        for (const auto& f : v.files) inputs.files[f];
      };
      if (spec.search) {
        for (double rate : {spec.search->lo, spec.search->hi}) take(runner.validate(probe_assignments(spec, runner, p, rate)));
      } else {
        take(runner.validate(runner.with_fixed(p.params)));
      }
      inputs.points[p.name] = input_files::fnv1a_hex(resolved);
    } catch (const InputError& e) {
      std::string params;
      for (const auto& a : p.params) params += fmt::format("{}{}={}", params.empty() ? "" : ", ", a.key, a.value);
      throw InputError(fmt::format("{}: sweep point {} ({}): {}", spec.file, p.name, params.empty() ? "base" : params, e.what()));
    }
  }
  for (auto& [file, hash] : inputs.files) hash = input_files::file_hash(file);
  if (o.restart) discard_results(o.out);
  check_inputs(inputs, o.out, shard.sharded(), o.merge);
  if (!shard.sharded() || shard.index == 0) write_description(spec, slo, o.out);
  const unsigned jobs = o.jobs ? o.jobs : (shard.sharded() ? 1u : std::max(1u, std::thread::hardware_concurrency()));
  if (spec.search) return run_search(spec, runner, shard, jobs, o, o.merge);
  if (o.merge) {
    const auto count = write_points_csv(spec, runner, o.out, true);
    fmt::print("sweep: merged {} points into {}/points.csv: {}\n", spec.points.size(), o.out,
               count_text(count, spec.points.size(), o.out));
    if (spec.best) fmt::print("{}", write_best(*spec.best, count.rows, o.out));
    return count.failed.empty() ? 0 : 1;
  }
  return run_points(spec, runner, shard, jobs, o);
}

}  // namespace hetsim::sweep
