#include "tools/validation_command.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <unistd.h>

#include "hw/cost_model.hpp"
#include "hw/device.hpp"
#include "models/graph_builder.hpp"
#include "models/model.hpp"
#include "sim/core/error.hpp"
#include "sim/core/io/atomic_file.hpp"
#include "sim/core/io/child_process.hpp"
#include "sim/core/io/csv.hpp"
#include "sim/core/units.hpp"
#include "sim/scenario/scenario.hpp"

namespace hetsim::tools {
namespace fs = std::filesystem;

namespace {

/// Checked growth of a case's error over its recorded one before --check fails (absolute, in
/// relative-error points): runs of loaded cases are deterministic, so this only absorbs
/// deliberate small model changes; anything larger must be re-recorded with its reason.
constexpr double kSlack = 0.02;

struct Case {
  std::string id, level, role, source, metric, unit;
  double measured = 0;  ///< SI units (seconds, tokens/s, or bytes)
  YAML::Node spec;      ///< op / collective / scenario
  double predicted = 0;
  std::string failure;
};

[[noreturn]] void bad(const std::string& file, const YAML::Node& n, const std::string& msg) {
  throw InputError(fmt::format("{}:{}: {}", file, n.Mark().line + 1, msg));
}

std::string text(const std::string& file, const YAML::Node& n, const char* key) {
  if (!n[key] || !n[key].IsScalar()) bad(file, n, fmt::format("missing '{}' (a string)", key));
  return n[key].as<std::string>();
}

/// One layer's op `name` of `model` for a prompt of `tokens` tokens at tensor parallelism `tp`, as
/// the serving step builds it; kernel time only (measured kernels carry no host dispatch).
double price_op(const YAML::Node& op) {
  const hw::Device device = hw::catalog_device(op["device"].as<std::string>());
  const models::ModelSpec model = models::catalog_model(op["model"].as<std::string>());
  ParallelPlan plan;
  plan.tp = op["tp"].as<int>();
  models::BatchShape batch;
  batch.add_prefill(op["tokens"].as<std::int64_t>(), 0, false);
  std::vector<Op> ops;
  models::builder_for(model).serving_step(model, batch, plan, ops);
  const std::string name = op["name"].as<std::string>();
  const hw::CostModel cost(device);
  for (const Op& o : ops)
    if (o.name == name) return cost.time(o) / o.repeat;
  throw InputError(fmt::format("op '{}' is not in {}'s serving step", name, model.name));
}

double price_collective(const YAML::Node& c) {
  const hw::Device device = hw::catalog_device(c["device"].as<std::string>());
  Op op;
  op.name = "collective";
  op.cls = OpClass::collective;
  const std::string kind = c["kind"].as<std::string>();
  const auto parsed = parse_collective(kind);
  if (!parsed) throw InputError(fmt::format("collective kind '{}': expected all_reduce, all_gather, reduce_scatter, all_to_all, broadcast or send_recv", kind));
  op.collective = *parsed;
  op.group = c["ranks"].as<int>();
  op.group_nodes = c["nodes"] ? c["nodes"].as<int>() : 1;
  op.comm_bytes = c["payload"].as<double>();
  return hw::CostModel(device).time(op);
}

/// One device's memory term `metric` (kv, activation, weights or non_torch; bytes) of the first
/// replica of the case's scenario, as the KV manager split it. Built in-process (no simulation); a
/// scenario without a workload gets a one-request one.
double memory_term(const Case& c) {
  YAML::Node scenario = YAML::Clone(c.spec);
  scenario["name"] = c.id;
  if (!scenario["workload"])
    scenario["workload"] = YAML::Load("{source: synthetic, num_requests: 1, arrival: {rate: 1}, prompt_tokens: 16, output_tokens: 16}");
  YAML::Emitter e;
  e << scenario;
  const auto doc = config::Document::load_string(e.c_str(), c.id);
  const sim::Scenario sc = sim::load_scenario(doc);
  const policies::KvMemory& m = sc.replicas.front().kv->memory();
  if (c.metric == "kv") return m.kv;
  if (c.metric == "activation") return m.activation;
  if (c.metric == "weights") return m.weights;
  return m.non_torch;
}

/// Runs the case's scenario in a child hetsim and reads `metric` (a path into summary.json).
double run_scenario(const Case& c, const fs::path& work) {
  const fs::path dir = work / c.id;
  fs::create_directories(dir);
  YAML::Node scenario = YAML::Clone(c.spec);
  scenario["name"] = c.id;
  {
    std::ofstream f(dir / "scenario.yaml");
    YAML::Emitter e;
    e << scenario;
    f << e.c_str() << "\n";
  }
  const std::string log = (dir / "run.log").string();
  const int code = run_child(self_executable(),
                             {"run", (dir / "scenario.yaml").string(), "--out", (dir / "out").string(), "--quiet"}, log);
  if (code != 0) throw std::runtime_error(fmt::format("hetsim run exited {} (log: {})", code, log));
  std::ifstream in(dir / "out" / "summary.json");
  nlohmann::json j = nlohmann::json::parse(in);
  std::size_t pos = 0;
  while (pos <= c.metric.size()) {
    const std::size_t end = std::min(c.metric.find('.', pos), c.metric.size());
    const std::string key = c.metric.substr(pos, end - pos);
    if (!j.contains(key)) throw InputError(fmt::format("metric {}: summary.json has no '{}'", c.metric, key));
    j = j[key];
    pos = end + 1;
  }
  return j.get<double>();
}

std::vector<Case> read_cases(const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(file);
  } catch (const YAML::Exception& e) {
    throw InputError(fmt::format("{}: {}", file, e.what()));
  }
  if (!root["cases"] || !root["cases"].IsSequence()) throw InputError(fmt::format("{}: expected a 'cases' list", file));
  std::vector<Case> out;
  for (const YAML::Node& n : root["cases"]) {
    Case c;
    c.id = text(file, n, "id");
    c.level = text(file, n, "level");
    c.role = text(file, n, "role");
    c.source = text(file, n, "source");
    if (c.level != "op" && c.level != "collective" && c.level != "single_request" && c.level != "loaded" && c.level != "memory")
      bad(file, n, fmt::format("level = {}: expected op, collective, single_request, loaded or memory", c.level));
    if (c.role != "fit" && c.role != "check") bad(file, n, fmt::format("role = {}: expected fit or check", c.role));
    const std::string measured = text(file, n, "measured");
    // "377 ms" (a time) or "6687 tok/s" (a throughput).
    if (measured.ends_with("tok/s")) {
      c.measured = std::stod(measured.substr(0, measured.size() - 5));
      c.unit = "tok/s";
    } else if (c.level == "memory") {
      // "53.29 GiB": memory as the engine's log prints it.
      try {
        c.measured = units::parse(measured, units::Dim::bytes);
      } catch (const InputError&) {
        bad(file, n, fmt::format("measured = {}: expected a size (\"53.29 GiB\")", measured));
      }
      if (!(c.measured > 0)) bad(file, n, fmt::format("measured = {}: expected a positive size", measured));
      c.unit = "B";
    } else {
      try {
        c.measured = units::parse(measured, units::Dim::time);
      } catch (const InputError&) {
        bad(file, n, fmt::format("measured = {}: expected a time (\"377 ms\") or a throughput (\"6687 tok/s\")", measured));
      }
      c.unit = "s";
    }
    const char* key = c.level == "op" ? "op" : c.level == "collective" ? "collective" : "scenario";
    if (!n[key] || !n[key].IsMap()) bad(file, n, fmt::format("case {}: missing the '{}' map", c.id, key));
    c.spec = n[key];
    if (c.level == "single_request" || c.level == "loaded") c.metric = text(file, n, "metric");
    if (c.level == "memory") {
      c.metric = n["metric"] ? text(file, n, "metric") : "kv";
      if (c.metric != "kv" && c.metric != "activation" && c.metric != "weights" && c.metric != "non_torch")
        bad(file, n, fmt::format("metric = {}: expected kv, activation, weights or non_torch", c.metric));
    }
    if (std::any_of(out.begin(), out.end(), [&](const Case& o) { return o.id == c.id; })) bad(file, n, "duplicate case id " + c.id);
    out.push_back(std::move(c));
  }
  return out;
}

std::map<std::string, double> read_recorded(const std::string& file) {
  std::map<std::string, double> out;
  if (!fs::exists(file)) return out;
  workload::CsvReader csv(file);
  const auto id = csv.column("id"), error = csv.column("error");
  while (csv.next()) out[csv.field(id)] = std::stod(csv.field(error));
  return out;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string show(double v, const std::string& unit) {
  if (unit == "B") return fmt::format("{:.2f} GiB", v / (1 << 30));
  return unit == "tok/s" ? fmt::format("{:.0f} tok/s", v) : v < 1e-3 ? fmt::format("{:.1f} us", v * 1e6) : fmt::format("{:.2f} ms", v * 1e3);
}

}  // namespace

int run_validation(const ValidationOptions& o) {
  std::vector<Case> cases = read_cases(o.cases);
  const fs::path work = fs::temp_directory_path() / fmt::format("hetsim-validation-{}", ::getpid());
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < cases.size(); i = next++) {
      Case& c = cases[i];
      try {
        c.predicted = c.level == "op"           ? price_op(c.spec)
                      : c.level == "collective" ? price_collective(c.spec)
                      : c.level == "memory"     ? memory_term(c)
                                                : run_scenario(c, work);
      } catch (const std::exception& e) {
        c.failure = e.what();
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < std::max(1, o.jobs); ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  std::error_code ec;
  fs::remove_all(work, ec);

  const auto recorded = read_recorded(o.recorded);
  std::string table = "| case | level | role | measured | predicted | error | recorded | source |\n|---|---|---|---|---|---|---|---|\n";
  std::string csv = "id,level,role,measured,predicted,error\n";
  std::map<std::pair<std::string, std::string>, std::vector<double>> by_section;
  int regressions = 0, failures = 0;
  for (const Case& c : cases) {
    if (!c.failure.empty()) {
      ++failures;
      fmt::print(stderr, "validation case {} failed: {}\n", c.id, c.failure);
      table += fmt::format("| {} | {} | {} | {} | FAILED | | | {} |\n", c.id, c.level, c.role, show(c.measured, c.unit), c.source);
      continue;
    }
    const double error = (c.predicted - c.measured) / c.measured;
    by_section[{c.level, c.role}].push_back(std::abs(error));
    const auto rec = recorded.find(c.id);
    std::string rec_text = rec == recorded.end() ? "-" : fmt::format("{:+.1f}%", 100 * rec->second);
    if (o.check && (rec == recorded.end() || std::abs(error) > std::abs(rec->second) + kSlack)) {
      ++regressions;
      fmt::print(stderr, "validation case {}: error {:+.1f}% {}\n", c.id, 100 * error,
                 rec == recorded.end() ? "has no recorded error (run with --record)" : fmt::format("exceeds its recorded {}", rec_text));
    }
    table += fmt::format("| {} | {} | {} | {} | {} | {:+.1f}% | {} | {} |\n", c.id, c.level, c.role, show(c.measured, c.unit),
                         show(c.predicted, c.unit), 100 * error, rec_text, c.source);
    csv += fmt::format("{},{},{},{},{},{}\n", c.id, c.level, c.role, c.measured, c.predicted, error);
  }
  std::string summary = "| level | role | cases | median abs error |\n|---|---|---|---|\n";
  std::vector<double> all_check;
  for (const char* level : {"op", "collective", "single_request", "loaded", "memory"})
    for (const char* role : {"fit", "check"}) {
      const auto it = by_section.find({level, role});
      if (it == by_section.end()) continue;
      summary += fmt::format("| {} | {} | {} | {:.1f}% |\n", level, role, it->second.size(), 100 * median(it->second));
      if (std::string(role) == "check") all_check.insert(all_check.end(), it->second.begin(), it->second.end());
    }
  summary += fmt::format("| all | check | {} | {:.1f}% |\n", all_check.size(), 100 * median(all_check));
  const std::string doc = fmt::format(
      "# Validation: hetsim against public measurements\n\nGenerated by `hetsim validation` from {}. error = (predicted - "
      "measured) / measured. Cases with role `fit` set a parameter (a profile or a serving-stack figure); `check` cases "
      "were not used for any fit.\n\n{}\n{}",
      o.cases, summary, table);
  AtomicFile md(o.out);
  md.write(doc);
  md.commit();
  AtomicFile out_csv(fs::path(o.out).replace_extension(".csv").string());
  out_csv.write(csv);
  out_csv.commit();
  if (o.record) {
    AtomicFile rec(o.recorded);
    std::string text = "id,error\n";
    for (const Case& c : cases)
      if (c.failure.empty()) text += fmt::format("{},{:.4f}\n", c.id, (c.predicted - c.measured) / c.measured);
    rec.write(text);
    rec.commit();
  }
  fmt::print("{}\nwrote {}\n", summary, o.out);
  if (failures) throw InputError(fmt::format("{} validation case(s) could not run (see above)", failures));
  return regressions ? 1 : 0;
}

}  // namespace hetsim::tools
