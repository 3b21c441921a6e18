// hetsim command-line interface: run, validate, list.
// Exit codes: 0 success, 2 bad input (scenario, trace, flags), 1 internal error.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <limits>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <csignal>
#include <optional>
#include <sys/wait.h>

#include "sim/core/catalog.hpp"
#include "sim/core/config.hpp"
#include "sim/core/error.hpp"
#include "sim/core/interrupt.hpp"
#include "sim/metrics/recorder.hpp"
#include "sim/scenario/run_description.hpp"
#include "sim/scenario/training_resilience.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/engine/serving_engine.hpp"
#include "sim/engine/trace_replay_engine.hpp"
#include "sim/engine/training_engine.hpp"
#include "sim/core/io/result_folder.hpp"
#include "sim/metrics/summary.hpp"
#include "calibrate/calibrate_command.hpp"
#include "tools/validation_command.hpp"
#include "tools/training_validation.hpp"
#include "sweep/sweep_command.hpp"
#include "tools/list_command.hpp"
#include "tools/transfer_command.hpp"
#include "tools/explain_command.hpp"

namespace {
using namespace hetsim;

struct ScenarioArgs {
  std::string file;
  std::vector<std::string> sets;
  std::optional<std::string> seed;  // checked by load(): CLI11 would wrap "-5" to 2^64-5
};

void add_scenario_args(CLI::App* cmd, ScenarioArgs& a) {
  cmd->add_option("scenario", a.file, "scenario YAML file")->required();
  cmd->add_option("--set", a.sets, "override a key: --set policies.scheduler.impl=sarathi (repeatable)")
      ->type_name("KEY.PATH=VALUE");
  cmd->add_option("--seed", a.seed, "random seed (overrides the scenario's 'seed')");
}

config::Document load(const ScenarioArgs& a) {
  auto doc = config::Document::load_file(a.file);
  for (const auto& s : a.sets) doc.set_override(s);
  if (a.seed) {
    const std::string& text = *a.seed;
    std::uint64_t seed = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seed);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
      throw InputError(fmt::format("--seed = {}: expected a non-negative integer in [0, {}]", text,
                                   std::numeric_limits<std::uint64_t>::max()));
    doc.set_override(fmt::format("seed={}", seed));
  }
  return doc;
}

/// Runs a scenario whose results are published as a whole (training, trace replay): `simulate`
/// writes them into the staging folder it is given and returns the table to print. Interrupted,
/// nothing is published and earlier results stay.
template <class Simulate>
int run_published(const std::string& name, std::string out_dir, bool quiet, const std::vector<std::string>& carry,
                  std::chrono::steady_clock::time_point t0, Simulate simulate) {
  if (out_dir.empty()) out_dir = (std::filesystem::path("out") / name).string();
  interrupt::check();
  std::optional<ResultFolder> folder;
  bool had_previous = false;
  try {
    folder.emplace(out_dir);
    had_previous = folder->had_previous();
    for (const auto& file : carry) folder->carry(file);
    const std::string table = simulate(folder->staging());
    interrupt::check();
    folder->publish();
    if (!quiet) {
      const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      fmt::print("{}  results     {}/\n  wall time   {:.3f} s\n", table, out_dir, wall);
    }
  } catch (const interrupt::Interrupted& e) {
    folder.reset();
    std::fprintf(stderr, "interrupted: run stopped by %s; %s\n", e.signal() == SIGTERM ? "SIGTERM" : "SIGINT",
                 (had_previous ? fmt::format("earlier results in {} kept", out_dir)
                               : fmt::format("nothing written to {} (earlier results kept)", out_dir)).c_str());
    return e.exit_code();
  }
  return 0;
}

/// A training scenario: the job's iterations on the training engine.
int run_training(const config::Document& doc, const std::string& out_dir, bool quiet, const std::vector<std::string>& carry,
                 std::chrono::steady_clock::time_point t0) {
  const sim::TrainingScenario sc = sim::load_training_scenario(doc);
  return run_published(sc.name, out_dir, quiet, carry, t0, [&](const std::string& staging) {
    const sim::TrainingRecords records = sim::run_training(sc, {.timeline = sc.timeline});
    const sim::TrainingRunInfo info = sim::describe_training_run(sc);
    const sim::TrainingSummary summary = sim::summarize(info, records);
    const auto resilience = sim::project_resilience(sc, records, summary);
    const training::ResilienceReport* projected = resilience ? &*resilience : nullptr;
    sim::write_training_results(staging, info, records, summary, projected);
    return sim::training_summary_table(info, records, summary, projected);
  });
}

/// A trace replay: the recorded ranks on the replay engine.
int run_replay(const config::Document& doc, const std::string& out_dir, bool quiet, const std::vector<std::string>& carry,
               std::chrono::steady_clock::time_point t0) {
  const sim::ReplayScenario sc = sim::load_replay_scenario(doc);
  return run_published(sc.name, out_dir, quiet, carry, t0, [&](const std::string& staging) {
    const sim::ReplayRecords records = sim::run_replay(sc, {.timeline = sc.timeline});
    const sim::ReplayRunInfo info = sim::describe_replay_run(sc);
    const sim::ReplaySummary summary = sim::summarize(info, records);
    sim::write_replay_results(staging, info, records, summary);
    return sim::replay_summary_table(info, summary);
  });
}

int cmd_run(const ScenarioArgs& a, std::string out_dir, bool quiet, const std::vector<std::string>& carry,
            const sim::EngineOptions& engine) {
  const auto t0 = std::chrono::steady_clock::now();
  interrupt::install();
  auto doc = load(a);
  if (sim::is_training(doc)) return run_training(doc, out_dir, quiet, carry, t0);
  if (sim::is_replay(doc)) return run_replay(doc, out_dir, quiet, carry, t0);
  sim::Scenario sc = sim::load_scenario(doc);
  if (out_dir.empty()) out_dir = (std::filesystem::path("out") / sc.name).string();
  interrupt::check();
  std::optional<sim::Recorder> recorder;
  std::optional<sim::Summary> summary;
  bool had_previous = false;
  try {
    recorder.emplace(sim::describe_run(sc), out_dir);
    had_previous = recorder->had_previous();
    for (const auto& name : carry) recorder->carry(name);
    sim::run_serving(sc, *recorder, engine);
    summary.emplace(sim::write_summary(*recorder));
    recorder->commit();
  } catch (const interrupt::Interrupted& e) {
    recorder.reset();  // removes the private folder, releases the lock
    std::fprintf(stderr, "interrupted: run stopped by %s; %s\n", e.signal() == SIGTERM ? "SIGTERM" : "SIGINT",
                 (had_previous ? fmt::format("earlier results in {} kept", out_dir)
                              : fmt::format("nothing written to {} (earlier results kept)", out_dir)).c_str());
    return e.exit_code();
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!quiet) {
    fmt::print("{}", sim::summary_table(*summary));
    std::string files;
    for (const auto& f : recorder->files()) files += (files.empty() ? "" : ", ") + f;
    fmt::print("  results     {}/ ({})\n  wall time   {:.3f} s\n", out_dir, files, wall);
  }
  return 0;
}

int cmd_validate(const ScenarioArgs& a) {
  auto doc = load(a);
  if (sim::is_training(doc)) {
    const sim::TrainingScenario sc = sim::load_training_scenario(doc);
    fmt::print("{}: OK — training {} on {}; seq {} x global batch {} ({} micro-batches of {} per DP rank), {}\n", a.file,
               sc.model.name, sc.describe(), sc.job.seq_len, sc.job.global_batch, sc.job.microbatches(), sc.job.micro_batch,
               sc.schedule_name);
    return 0;
  }
  if (sim::is_replay(doc)) {
    const sim::ReplayScenario sc = sim::load_replay_scenario(doc);
    std::size_t ops = 0;
    for (const auto& t : sc.traces) ops += t.ops.size();
    fmt::print("{}: OK — replay of {} ops on {}\n", a.file, ops, sc.describe());
    return 0;
  }
  sim::Scenario sc = sim::load_scenario(doc);
  fmt::print("{}: OK — {} on {} ({} KV blocks on the first replica); {} ({} prompt + {} output tokens)\n", a.file,
             sc.model.name, sim::describe_fleet(sc), sc.replicas.front().kv->total_blocks(), sc.arrivals->describe(),
             sc.totals.prompt_tokens, sc.totals.output_tokens);
  return 0;
}

int cmd_explain(const ScenarioArgs& a, const tools::ExplainOptions& options) {
  auto doc = load(a);
  if (sim::is_training(doc))
    throw InputError(fmt::format("{}: explain prices serving steps; this is a training scenario (its ranks.csv gives the "
                                 "time per rank group)", a.file));
  if (sim::is_replay(doc))
    throw InputError(fmt::format("{}: explain prices serving steps; this is a trace replay (its ranks.csv gives the "
                                 "time per rank)", a.file));
  const sim::Scenario sc = sim::load_scenario(doc);
  return tools::run_explain(sc, options);
}

int cmd_report(const std::string& dir) {
  // Plots are drawn by tools/report.py with Debian's matplotlib (python3-matplotlib, for /usr/bin/python3).
  const std::string script = (std::filesystem::path(catalog::root()) / "tools" / "report.py").string();
  if (!std::filesystem::exists(script)) throw InputError(fmt::format("{}: report script not found (set HETSIM_HOME)", script));
  const char* python = std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  std::string quoted = "'";
  for (char c : dir) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  quoted += "'";
  const int status = std::system(fmt::format("{} '{}' {}", python, script, quoted).c_str());
  if (status == -1 || !WIFEXITED(status)) return 1;
  return WEXITSTATUS(status);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hetsim: discrete-event simulator of heterogeneous LLM serving systems"};
  app.require_subcommand(1);
  ScenarioArgs run_args, validate_args;
  std::string out_dir;
  bool quiet = false;
  std::vector<std::string> carry;
  auto* run = app.add_subcommand("run", "simulate a scenario and write results");
  add_scenario_args(run, run_args);
  run->add_option("--out", out_dir, "output folder (default: out/<scenario name>)");
  run->add_flag("--quiet", quiet, "do not print the summary");
  bool no_coalesce = false;
  run->add_flag("--no-coalesce", no_coalesce,
                "run every model step as a SimGrid event (slower; results are byte-identical, for checking that)");
  // Used by sweeps: files the caller put in --out (point.json, the log being written) that the
  // new result folder keeps.
  run->add_option("--carry", carry, "keep this file of the --out folder in the new results")->group("");
  auto* validate = app.add_subcommand("validate", "check a scenario (config, catalog, workload) without running it");
  add_scenario_args(validate, validate_args);
  auto* list = app.add_subcommand("list", "list registered policies, workload sources, hardware and models");
  sweep::SweepOptions sweep_opts;
  auto* sweep_cmd = app.add_subcommand("sweep", "run every point of a sweep spec (in parallel, resumable, shardable)");
  sweep_cmd->add_option("spec", sweep_opts.spec, "sweep spec YAML (base scenario + axes)")->required();
  sweep_cmd->add_option("--out", sweep_opts.out, "output folder (default: out/<spec name>)");
  sweep_cmd->add_option("-j,--jobs", sweep_opts.jobs, "parallel runs (default: all cores; 1 per shard under SLURM/MPI)");
  sweep_cmd->add_flag("--merge", sweep_opts.merge, "join the shards' results into points.csv / max_rate.csv");
  sweep_cmd->add_flag("--emit-slurm", sweep_opts.emit_slurm, "write OUT/sweep.sbatch, a SLURM job array running the sweep");
  sweep_cmd->add_option("--shards", sweep_opts.shards, "array tasks for --emit-slurm (default: one per point, at most 1000)");
  sweep_cmd->add_flag("--quiet", sweep_opts.quiet, "no progress output");
  sweep_cmd->add_flag("--restart", sweep_opts.restart,
                      "discard the points already under --out and run them all again (needed after the inputs changed)");
  calibrate::CalibrateOptions cal;
  auto* calibrate_cmd = app.add_subcommand(
      "calibrate", "measure CUDA kernels on this machine's GPU and fit an efficiency profile (or --refit a raw CSV)");
  calibrate_cmd->add_option("--out", cal.out, "profile to write, e.g. hw/profiles/h100-sxm5-80gb.yaml")->required();
  calibrate_cmd->add_option("--device", cal.device, "catalog device the GPU is (its peaks are the reference)")->required();
  calibrate_cmd->add_flag("--quick", cal.quick, "a small shape grid (minutes, not tens of minutes)");
  calibrate_cmd->add_option("--refit", cal.refit, "fit this raw measurement CSV instead of measuring (no GPU needed)");
  calibrate_cmd->add_flag("--blend", cal.blend, "allow a blended roofline where it fits clearly better (on with --import)");
  calibrate_cmd->add_option("--import", cal.import_format, "fit published measurements instead of measuring: vidur");
  calibrate_cmd->add_option("--ops", cal.ops, "with --import vidur: folder of per-model op profiles (compute/a100)");
  calibrate_cmd->add_option("--collectives", cal.collectives, "with --import vidur: NCCL measurement file (repeatable)");
  calibrate_cmd->add_option("--exclude", cal.exclude, "with --import: models kept out of the fit, for validation (repeatable)");
  tools::ValidationOptions validation_opts;
  auto* validation = app.add_subcommand(
      "validation", "run the validation suite (validation/cases.yaml) against public measurements; write the error table");
  validation->add_option("--cases", validation_opts.cases, "case file (default validation/cases.yaml)");
  validation->add_option("--out", validation_opts.out, "error table to write (default validation/results.md; a .csv beside it)");
  validation->add_option("--recorded", validation_opts.recorded, "recorded errors (default validation/recorded.csv)");
  validation->add_flag("--check", validation_opts.check, "exit 1 if a case's error grew beyond its recorded error (+2 points)");
  validation->add_flag("--record", validation_opts.record, "rewrite the recorded errors with this run's");
  validation->add_option("-j,--jobs", validation_opts.jobs, "cases run in parallel (default 2)");
  bool training_validation = false;
  tools::TrainingValidationOptions training_validation_opts;
  validation->add_flag("--training", training_validation,
                       "run the training cases instead (validation/training_cases.yaml -> validation/training_results.md)");
  validation->add_option("--within", training_validation_opts.within,
                         "with --training: exit 1 unless every case is within this relative error (e.g. 0.10)");
  validation->add_option("--keep", training_validation_opts.keep,
                         "with --training: keep each case's scenario.yaml, run log and outputs in DIR/<case id>/");
  std::string report_dir;
  auto* report = app.add_subcommand("report", "render plots and an HTML page for a run or sweep folder");
  report->add_option("dir", report_dir, "a run folder (requests.csv) or a sweep folder (points.csv)")->required();

  ScenarioArgs explain_args;
  tools::ExplainOptions explain_opts;
  auto* explain = app.add_subcommand(
      "explain", "take one serving step apart: per-op FLOPs, bytes, roofline bound, efficiency source, time; host work");
  add_scenario_args(explain, explain_args);
  explain->add_option("--prefill", explain_opts.prefills, "a prompt chunk of C tokens after P cached ones (repeatable)")
      ->type_name("C[@P][:partial]");
  explain->add_option("--decode", explain_opts.decodes, "N decoding sequences with CTX tokens in their KV cache (repeatable)")
      ->type_name("N@CTX");
  explain->add_option("--pool", explain_opts.pool, "the pool whose instance runs the step (default: the first)");
  explain->add_option("--tp", explain_opts.tp, "tensor-parallel degree in place of the pool's");
  explain->add_option("--steps", explain_opts.steps, "explain a step of this steps.csv (run with output.step_detail: true)");
  explain->add_option("--row", explain_opts.row, "with --steps: the step's row (1 = first)");
  explain->add_option("--out", explain_opts.out, "also write explain.csv and explain.json here (hetsim report draws a roofline)");

  tools::TransferOptions transfer_opts;
  auto* transfer = app.add_subcommand(
      "transfer", "simulate concurrent transfers on a node or cluster topology: routes, idle and contended times");
  transfer->add_option("topology", transfer_opts.topology, "a hw/nodes name (gh200) or a node/cluster YAML file")->required();
  transfer->add_option("--flow", transfer_opts.flows, "FROM:TO[:BYTES], all started together (repeatable)")
      ->type_name("FROM:TO[:BYTES]")
      ->required();
  transfer->add_option("--bytes", transfer_opts.bytes, "size of flows that give none (default 1 GB)");
  transfer->add_option("--request-size", transfer_opts.request_size, "block-device request size (default 1 MiB)");

  // CLI11 reports an unknown subcommand only as "A subcommand is required"; name it instead.
  if (argc > 1 && argv[1][0] != '-') {
    std::vector<std::string> names;
    for (const auto* sub : app.get_subcommands([](CLI::App*) { return true; })) names.push_back(sub->get_name());
    if (std::find(names.begin(), names.end(), argv[1]) == names.end()) {
      std::sort(names.begin(), names.end());
      std::string valid;
      for (const auto& n : names) valid += (valid.empty() ? "" : ", ") + n;
      const std::string hint = config::closest(argv[1], names);
      fmt::print(stderr, "error: unknown subcommand '{}'{}; valid: {}\n", argv[1],
                 hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint), valid);
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return exit_code_of([&] {
    if (*run) return cmd_run(run_args, out_dir, quiet, carry, sim::EngineOptions{.coalesce = !no_coalesce});
    if (*validate) return cmd_validate(validate_args);
    if (*list) return tools::run_list_command();
    if (*sweep_cmd) {
      if (sweep_opts.out.empty()) sweep_opts.out = (std::filesystem::path("out") / std::filesystem::path(sweep_opts.spec).stem()).string();
      return sweep::run_sweep_command(sweep_opts);
    }
    if (*report) return cmd_report(report_dir);
    if (*explain) return cmd_explain(explain_args, explain_opts);
    if (*transfer) return tools::run_transfer_command(transfer_opts);
    if (*calibrate_cmd) return calibrate::run_calibrate(cal);
    if (*validation && training_validation) {
      if (validation->count("--cases")) training_validation_opts.cases = validation_opts.cases;
      if (validation->count("--out")) training_validation_opts.out = validation_opts.out;
      training_validation_opts.jobs = validation_opts.jobs;
      return tools::run_training_validation(training_validation_opts);
    }
    if (*validation) return tools::run_validation(validation_opts);
    return 1;
  });
}
