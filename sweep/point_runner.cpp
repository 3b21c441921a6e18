#include "sweep/point_runner.hpp"

#include <chrono>
#include <fstream>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "sim/core/io/atomic_file.hpp"
#include "sim/core/error.hpp"
#include "sim/core/interrupt.hpp"
#include "sim/core/io/input_files.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/scenario/training_scenario.hpp"
#include "sim/core/io/child_process.hpp"

namespace hetsim::sweep {
namespace fs = std::filesystem;

namespace {
nlohmann::ordered_json params_json(const std::vector<Assignment>& assignments) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& a : assignments) j[a.key] = a.value;
  return j;
}
std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
}  // namespace

PointRunner::PointRunner(const Spec& spec, std::string out_dir)
    : spec_(spec), out_dir_(std::move(out_dir)), exe_(self_executable()) {}

std::vector<Assignment> PointRunner::with_fixed(const std::vector<Assignment>& params) const {
  std::vector<Assignment> all = spec_.fixed;
  all.insert(all.end(), params.begin(), params.end());
  return all;
}

Validation PointRunner::validate(const std::vector<Assignment>& assignments) const {
  input_files::Capture capture;
  auto doc = config::Document::load_file(spec_.base);
  for (const auto& a : assignments) doc.set_override(a.key + "=" + a.value, a.origin);
  Validation v;
  YAML::Emitter emitter;
  if (sim::is_training(doc)) {
    try {
      emitter << sim::load_training_scenario(doc).resolved;
    } catch (const sim::PlanDoesNotFit& e) {
      v.infeasible = e.what();
      emitter << YAML::Load("infeasible: " + YAML::Dump(YAML::Node(v.infeasible)));
    }
  } else {
    const auto sc = sim::load_scenario(doc);
    v.slo = sc.slo;
    emitter << sc.resolved;
  }
  v.resolved = emitter.c_str();
  v.files = capture.files();
  return v;
}

std::string PointRunner::folder(const std::string& relative) const { return (fs::path(out_dir_) / relative).string(); }

bool PointRunner::finished(const std::string& relative, const std::vector<Assignment>& assignments) const {
  const fs::path dir = folder(relative);
  if (!fs::exists(dir / "point.json")) return false;
  const auto stored = nlohmann::ordered_json::parse(read_text((dir / "point.json").string()), nullptr, false);
  if (stored.is_discarded() || stored.value("params", nlohmann::ordered_json()) != params_json(assignments))
    throw InputError(fmt::format("{}: holds a run with other parameters than the sweep spec now gives; the spec "
                                 "changed under an existing output folder; use a new --out",
                                 (dir / "point.json").string()));
  return fs::exists(dir / "summary.json") || fs::exists(dir / "infeasible.txt");
}

Outcome PointRunner::run(const std::string& relative, const std::vector<Assignment>& assignments) const {
  Outcome out;
  if (finished(relative, assignments)) {
    out.ok = out.reused = true;
    return out;
  }
  const fs::path dir = folder(relative);
  fs::create_directories(dir);
  {
    AtomicFile point((dir / "point.json").string());
    nlohmann::ordered_json j;
    j["point"] = relative;
    j["base"] = spec_.base;
    j["params"] = params_json(assignments);
    point.write(j.dump(2) + "\n");
    point.commit();
  }
  // A training plan that does not fit is the point's answer: recorded, not run. (Only training
  // scenarios are loaded here; other problems are left to the run, which reports them.)
  auto doc = config::Document::load_file(spec_.base);
  for (const auto& a : assignments) doc.set_override(a.key + "=" + a.value, a.origin);
  if (sim::is_training(doc)) {
    try {
      (void)sim::load_training_scenario(doc);
    } catch (const sim::PlanDoesNotFit& e) {
      AtomicFile why((dir / "infeasible.txt").string());
      why.write(std::string(e.what()) + "\n");
      why.commit();
      out.infeasible = true;
      out.error = e.what();
      return out;
    } catch (const InputError&) {
    }
  }
  // The run replaces the folder as a whole: it keeps point.json and its log (still being written).
  std::vector<std::string> args = {"run",     spec_.base,   "--quiet", "--out", dir.string(),
                                   "--carry", "point.json", "--carry", "log.txt"};
  for (const auto& a : assignments) {
    args.push_back("--set");
    args.push_back(a.key + "=" + a.value);
  }
  const auto t0 = std::chrono::steady_clock::now();
  const std::string log = (dir / "log.txt").string();
  const int code = run_child(exe_, args, log);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  interrupt::check();  // the child got the signal too and stopped
  out.ok = code == 0 && fs::exists(dir / "summary.json");
  if (!out.ok) {
    // A failed run never counts as finished, whatever it left (a resumed sweep runs it again).
    std::error_code ec;
    fs::remove(dir / "summary.json", ec);
    std::string text = read_text(log);
    while (!text.empty() && text.back() == '\n') text.pop_back();
    const auto nl = text.rfind('\n');
    out.error = fmt::format("exit {}: {}", code, nl == std::string::npos ? text : text.substr(nl + 1));
  }
  return out;
}

}  // namespace hetsim::sweep
