#include "tools/training_validation.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <vector>

#include "sim/core/error.hpp"
#include "sim/core/io/atomic_file.hpp"
#include "sim/core/io/child_process.hpp"
#include "sweep/parallel.hpp"

namespace hetsim::tools {
namespace fs = std::filesystem;

namespace {

/// One published row and what hetsim makes of it.
struct TrainingCase {
  std::string id, family, device, source, config;
  YAML::Node row;
  double measured = 0;
  std::string metric;  ///< "TFLOP/s/GPU (Eq. 3)" or "MFU (6N + 12lhs)"
  double simulated = 0;
  std::string skipped;  ///< why the row cannot run (a plan its source does not publish)
  std::string failure;
};

/// Nodes of the case's device: Selene's DGX A100 for the A100 rows, HGX H100 for the H100 ones.
std::string node_of(const std::string& device) { return device.starts_with("a100") ? "dgx-a100" : "hgx-h100"; }

/// The scenario of a row. Its model is GPT-style (the gpt3-175b entry's architecture with the
/// row's shapes); nodes of eight GPUs on a rail fabric without oversubscription (Selene's and
/// MosaicML's clusters are full-bisection fat trees); what the source does not publish is set
/// as stated in validation/training_results.md.
YAML::Node scenario_of(const TrainingCase& c) {
  const YAML::Node& r = c.row;
  const YAML::Node& m = r["model"];
  const int gpus = r["gpus"].as<int>();
  const int nodes = (gpus + 7) / 8;
  const double nic = c.device.starts_with("a100") ? 200e9 : 400e9;  // bits/s per NIC
  YAML::Node s;
  s["name"] = c.id;
  YAML::Node model;
  model["preset"] = "gpt3-175b";
  model["name"] = c.id;
  model["hidden_size"] = m["hidden"].as<long>();
  model["intermediate_size"] = m["ffn"].as<long>();
  model["num_attention_heads"] = m["heads"].as<long>();
  model["num_hidden_layers"] = m["layers"].as<long>();
  model["vocab_size"] = m["vocab"].as<long>();
  model["max_position_embeddings"] = m["seq_len"].as<long>();
  s["model"] = model;
  s["cluster"]["device"] = c.device;
  s["cluster"]["node"] = node_of(c.device);
  s["cluster"]["fabric"]["kind"] = "rail";
  s["cluster"]["fabric"]["uplink_bandwidth"] = fmt::format("{} Gbps", nodes * nic / 1e9);
  s["cluster"]["fabric"]["latency"] = "1 us";
  YAML::Node t;
  t["seq_len"] = m["seq_len"].as<long>();
  t["global_batch"] = r["global_batch"].as<long>();
  t["micro_batch"] = r["micro_batch"] ? r["micro_batch"].as<long>() : 1L;
  const YAML::Node& plan = r["plan"];
  t["parallel"]["tp"] = plan["tp"].as<int>();
  t["parallel"]["pp"] = plan["pp"].as<int>();
  t["parallel"]["dp"] = plan["dp"].as<int>();
  // FSDP FULL_SHARD is ZeRO-3 (its prefetched gathers overlap the layers). Megatron-LM of 2021
  // had no distributed optimizer and all-reduced gradients after the last backward.
  t["zero"] = plan["fsdp"] ? 3 : 0;
  if (c.family == "gpt") t["overlap"]["grad_reduce"] = false;
  t["recompute"] = r["recompute"].as<std::string>();
  t["iterations"] = 2;
  s["training"] = t;
  return s;
}

/// The simulated throughput in the row's own accounting, from the run's summary.json.
double simulated_metric(const TrainingCase& c, const nlohmann::json& summary) {
  const YAML::Node& m = c.row["model"];
  const double B = c.row["global_batch"].as<double>(), s = m["seq_len"].as<double>(), l = m["layers"].as<double>(),
               h = m["hidden"].as<double>(), V = m["vocab"].as<double>();
  const double step = summary["training"]["step_time_s"].get<double>();
  const double gpus = c.row["gpus"].as<double>();
  if (c.family == "gpt") {
    // Narayanan et al. SC'21, Eq. (3): F = 96 B s l h^2 (1 + s/(6h) + V/(16 l h)), full recompute counted.
    const double flops = 96 * B * s * l * h * h * (1 + s / (6 * h) + V / (16 * l * h));
    return flops / step / gpus / 1e12;
  }
  // llm-foundry: MFU = (6 N + 12 l h s) x tokens/s / (GPUs x peak), N the published parameter count.
  const double n = m["params"].as<double>();
  const double tokens_per_s = B * s / step;
  const double peak = summary["training"]["peak_tflops_per_gpu"].get<double>() * 1e12;
  return (6 * n + 12 * l * h * s) * tokens_per_s / (gpus * peak);
}

void run_case(TrainingCase& c, const fs::path& work) {
  const fs::path dir = work / c.id;
  fs::create_directories(dir);
  {
    std::ofstream f(dir / "scenario.yaml");
    YAML::Emitter e;
    e << scenario_of(c);
    f << e.c_str() << "\n";
  }
  const std::string log = (dir / "run.log").string();
  const int code = run_child(self_executable(), {"run", (dir / "scenario.yaml").string(), "--out", (dir / "out").string(), "--quiet"}, log);
  if (code != 0) {
    std::ifstream in(log);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    while (!text.empty() && text.back() == '\n') text.pop_back();
    throw std::runtime_error(fmt::format("hetsim run exited {}: {}", code, text.substr(text.rfind('\n') + 1)));
  }
  std::ifstream in(dir / "out" / "summary.json");
  c.simulated = simulated_metric(c, nlohmann::json::parse(in));
}

std::vector<TrainingCase> read_cases(const std::string& file) {
  const YAML::Node doc = YAML::LoadFile(file);
  std::vector<TrainingCase> out;
  const YAML::Node rows = doc["cases"];
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const YAML::Node r = rows[i];
    TrainingCase c;
    c.row = r;
    c.id = r["id"].as<std::string>();
    c.family = r["model"]["family"].as<std::string>();
    c.device = r["device"].as<std::string>();
    c.source = fmt::format("{} {}", r["source"]["ref"].as<std::string>(), r["source"]["table"].as<std::string>());
    const YAML::Node& measured = r["measured"];
    if (c.family == "gpt") {
      c.metric = "TFLOP/s/GPU (Eq. 3)";
      if (measured["tflops_per_gpu"]) c.measured = measured["tflops_per_gpu"].as<double>();
    } else {
      c.metric = "MFU (6N + 12lhs)";
      if (measured["mfu"]) c.measured = measured["mfu"].as<double>();
    }
    if (!r["plan"] || !r["model"]["layers"] || c.measured <= 0) {
      c.skipped = "its source does not publish the plan and model shape";
    } else {
      const YAML::Node& p = r["plan"];
      c.config = fmt::format("{} GPUs, TP{} PP{} DP{}{}, batch {} x {}{}, recompute {}", r["gpus"].as<int>(), p["tp"].as<int>(),
                             p["pp"].as<int>(), p["dp"].as<int>(), p["fsdp"] ? " FSDP" : "", r["global_batch"].as<long>(),
                             r["model"]["seq_len"].as<long>(),
                             r["micro_batch"] ? fmt::format(" (micro {})", r["micro_batch"].as<long>()) : "",
                             r["recompute"].as<std::string>());
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

int run_training_validation(const TrainingValidationOptions& o) {
  if (!fs::exists(o.cases)) throw InputError(fmt::format("{}: training validation cases not found", o.cases));
  std::vector<TrainingCase> cases = read_cases(o.cases);
  const fs::path work = fs::temp_directory_path() / fmt::format("hetsim-training-validation-{}", ::getpid());
  sweep::parallel_for(cases.size(), static_cast<unsigned>(std::max(1, o.jobs)), [&](std::size_t i) {
    TrainingCase& c = cases[i];
    if (!c.skipped.empty()) return;
    try {
      run_case(c, work);
    } catch (const std::exception& e) {
      c.failure = e.what();
    }
  });
  std::error_code ec;
  fs::remove_all(work, ec);

  std::string table = "| case | configuration | metric | published | simulated | error |\n|---|---|---|---|---|---|\n";
  std::string csv = "id,metric,published,simulated,error\n";
  std::vector<double> errors;
  int outside = 0, failures = 0;
  for (const TrainingCase& c : cases) {
    const auto shown = [&](double v) { return c.family == "gpt" ? fmt::format("{:.1f}", v) : fmt::format("{:.1f}%", 100 * v); };
    if (!c.skipped.empty()) {
      table += fmt::format("| {} | | {} | {} | not run: {} | |\n", c.id, c.metric, c.measured > 0 ? shown(c.measured) : "-", c.skipped);
      continue;
    }
    if (!c.failure.empty()) {
      ++failures;
      table += fmt::format("| {} | {} | {} | {} | FAILED: {} | |\n", c.id, c.config, c.metric, shown(c.measured), c.failure);
      continue;
    }
    const double error = (c.simulated - c.measured) / c.measured;
    errors.push_back(std::abs(error));
    if (o.within > 0 && std::abs(error) > o.within) ++outside;
    table += fmt::format("| {} | {} | {} | {} | {} | {:+.1f}% |\n", c.id, c.config, c.metric, shown(c.measured),
                         shown(c.simulated), 100 * error);
    csv += fmt::format("{},{},{},{},{}\n", c.id, c.metric, c.measured, c.simulated, error);
  }
  std::vector<double> sorted = errors;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted.empty() ? 0 : sorted[sorted.size() / 2];
  const auto within10 = std::count_if(errors.begin(), errors.end(), [](double e) { return e <= 0.10; });
  const std::string summary = fmt::format("{} cases ran: median abs error {:.1f}%, {} within 10%, max {:.1f}%", errors.size(),
                                          100 * median, within10, sorted.empty() ? 0.0 : 100 * sorted.back());
  AtomicFile md(o.out);
  md.write(fmt::format(
      "# Training validation: hetsim against published training throughput\n\nGenerated by `hetsim validation --training` "
      "from {}. error = (simulated - published) / published, each in its source's accounting. {}.\n\n"
      "Set where the source does not say: Megatron-LM Table 1 rows run micro-batch 1, the 1F1B schedule, no sequence "
      "parallelism, no distributed optimizer and the gradient all-reduce after the last backward (Megatron-LM of 2021); every row runs on nodes of eight GPUs (DGX A100 with eight 200 Gb/s HDR "
      "NICs, HGX H100 with eight 400 Gb/s NICs) on a fabric without oversubscription; llm-foundry's FSDP FULL_SHARD runs "
      "as ZeRO-3 with its in-pass gathers exposed; MPT's ALiBi attention as the GPT entry's learned positions.\n\n{}",
      o.cases, summary, table));
  md.commit();
  AtomicFile out_csv(fs::path(o.out).replace_extension(".csv").string());
  out_csv.write(csv);
  out_csv.commit();
  fmt::print("{}\nwrote {}\n", summary, o.out);
  if (failures) throw InputError(fmt::format("{} training validation case(s) could not run (see {})", failures, o.out));
  return outside ? 1 : 0;
}

}  // namespace hetsim::tools
