#include "tools/training_validation.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
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
  std::string ref;  ///< the source's ref in the case file (N1, M1, G1, C1)
  YAML::Node row;
  double measured = 0;
  std::string metric;  ///< "TFLOP/s/GPU (Eq. 3)", "MFU (6N + 12lhs)" or "tokens/s/GPU"
  double simulated = 0;
  nlohmann::json summary;  ///< the run's summary.json "training" section
  std::string skipped;  ///< why the row cannot run (a plan its source does not publish)
  std::string failure;
};

/// NeMo's Megatron-Core runs (DGX-H100, FP8): their metric is tokens/s per GPU.
bool is_nemo(const TrainingCase& c) { return c.ref == "G1"; }
/// Rows compared by tokens/s per GPU: NeMo's, Megatron-Bridge's and DeepSeek's.
bool by_tokens(const TrainingCase& c) { return is_nemo(c) || c.ref == "B1" || c.ref == "D1"; }

/// `over` merged into `base`, maps key by key, anything else replaced (a row's `settings`).
void merge_into(YAML::Node base, const YAML::Node& over) {
  for (const auto& kv : over) {
    const std::string key = kv.first.as<std::string>();
    if (kv.second.IsMap() && base[key] && base[key].IsMap()) merge_into(base[key], kv.second);
    else base[key] = YAML::Clone(kv.second);
  }
}

/// Nodes of the case's device: Selene's DGX A100 for the A100 rows, HGX H100 for the H100 ones.
std::string node_of(const std::string& device) {
  return device.starts_with("a100") ? "dgx-a100" : device.starts_with("h800") ? "hgx-h800" : "hgx-h100";
}

/// "1024 GPUs, TP2 PP8 CP1 DP64 VP4 EP64, batch 8192 x 4096 (micro 1), FP8, recompute selective": the
/// row's plan degrees as its source gives them, then what else it states.
std::string describe_row(const YAML::Node& r) {
  const YAML::Node& p = r["plan"];
  std::string plan;
  for (const auto& [key, label] : {std::pair{"tp", "TP"}, {"pp", "PP"}, {"cp", "CP"}, {"dp", "DP"}, {"vp", "VP"}, {"ep", "EP"}, {"etp", "ETP"}})
    if (p[key]) plan += fmt::format("{}{}{}", plan.empty() ? "" : " ", label, p[key].as<int>());
  if (p["fsdp"]) plan += " FSDP";
  std::string out = fmt::format("{} GPUs, {}, batch {} x {}", r["gpus"].as<int>(), plan, r["global_batch"].as<long>(),
                                r["model"]["seq_len"].as<long>());
  if (r["micro_batch"]) out += fmt::format(" (micro {})", r["micro_batch"].as<long>());
  if (r["precision"] && r["precision"].as<std::string>() == "fp8") out += ", FP8";
  if (r["recompute"]) out += ", recompute " + r["recompute"].as<std::string>();
  return out;
}

/// The scenario of a row. Its model is a catalog entry (model.catalog) or GPT-style (the gpt3-175b
/// entry's architecture with the row's shapes); nodes of eight GPUs on a rail fabric without
/// oversubscription (Selene's, MosaicML's and DGX-H100 SuperPOD clusters are full-bisection fat
/// trees); what the source does not publish is set as stated in validation/training_results.md.
YAML::Node scenario_of(const TrainingCase& c) {
  const YAML::Node& r = c.row;
  const YAML::Node& m = r["model"];
  const int gpus = r["gpus"].as<int>();
  const int nodes = (gpus + 7) / 8;
  const double nic = c.device.starts_with("a100") ? 200e9 : 400e9;  // bits/s per NIC
  YAML::Node s;
  s["name"] = c.id;
  const bool nemo = is_nemo(c);
  YAML::Node model;
  if (m["catalog"]) {
    model["preset"] = m["catalog"].as<std::string>();
    model["name"] = c.id;
  } else {
    model["preset"] = "gpt3-175b";
    model["name"] = c.id;
    model["hidden_size"] = m["hidden"].as<long>();
    model["intermediate_size"] = m["ffn"].as<long>();
    model["num_attention_heads"] = m["heads"].as<long>();
    model["num_hidden_layers"] = m["layers"].as<long>();
    model["vocab_size"] = m["vocab"].as<long>();
    model["max_position_embeddings"] = m["seq_len"].as<long>();
  }
  // FP8 GEMMs with BF16 weights and FP32 master weights (Transformer Engine's recipe).
  if (r["precision"] && r["precision"].as<std::string>() == "fp8") model["precision"]["gemm"] = "fp8";
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
  const int tp = plan["tp"].as<int>();
  t["parallel"]["tp"] = tp;
  t["parallel"]["pp"] = plan["pp"].as<int>();
  t["parallel"]["dp"] = plan["dp"].as<int>();
  if (plan["cp"]) t["parallel"]["cp"] = plan["cp"].as<int>();
  if (plan["ep"]) t["parallel"]["ep"] = plan["ep"].as<int>();
  if (plan["etp"]) t["parallel"]["etp"] = plan["etp"].as<int>();
  if (nemo && tp > 1) t["parallel"]["sp"] = true;  // NeMo: sequence parallelism with TP
  // FSDP FULL_SHARD is ZeRO-3 (its prefetched gathers overlap the layers). Megatron-LM of 2021
  // had no distributed optimizer and all-reduced gradients after the last backward. NeMo runs
  // Megatron-Core's distributed optimizer (ZeRO-1) with grad-reduce and param-gather overlapped
  // and, with TP, Transformer Engine's TP communication overlap.
  t["zero"] = plan["fsdp"] ? 3 : nemo ? 1 : 0;
  if (c.ref == "N1") t["overlap"]["grad_reduce"] = false;
  if (nemo) {
    t["overlap"]["grad_reduce"] = true;
    t["overlap"]["param_gather"] = true;
    t["overlap"]["tp_comm"] = tp > 1;
    t["grad_dtype"] = "bf16";  // the NeMo launcher's FP8 performance configs: optim.grad_sync_dtype: bf16
  }
  t["recompute"] = r["recompute"] ? r["recompute"].as<std::string>() : std::string("none");
  t["iterations"] = 2;
  s["training"] = t;
  // Virtual pipeline stages (Megatron's interleaved 1F1B); VP 1 is plain 1F1B, the default.
  if (plan["vp"] && plan["vp"].as<int>() > 1) {
    s["policies"]["pipeline_schedule"]["impl"] = "interleaved_1f1b";
    s["policies"]["pipeline_schedule"]["virtual_stages"] = plan["vp"].as<int>();
  }
  // What the source states beyond its table's columns, as scenario keys.
  if (r["settings"]) merge_into(s, r["settings"]);
  return s;
}

/// The simulated throughput in the row's own accounting, from the run's summary.json.
double simulated_metric(const TrainingCase& c, const nlohmann::json& summary) {
  if (by_tokens(c)) return summary["training"]["tokens_per_s_per_gpu"].get<double>();
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
  const nlohmann::json summary = nlohmann::json::parse(in);
  c.simulated = simulated_metric(c, summary);
  c.summary = summary["training"];
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
    c.ref = r["source"]["ref"].as<std::string>();
    c.source = fmt::format("{} {}", c.ref, r["source"]["table"].as<std::string>());
    const YAML::Node& measured = r["measured"];
    if (by_tokens(c)) {
      c.metric = "tokens/s/GPU";
      if (measured["tokens_per_s_per_gpu"]) c.measured = measured["tokens_per_s_per_gpu"].as<double>();
    } else if (c.family == "gpt") {
      c.metric = "TFLOP/s/GPU (Eq. 3)";
      if (measured["tflops_per_gpu"]) c.measured = measured["tflops_per_gpu"].as<double>();
    } else {
      c.metric = "MFU (6N + 12lhs)";
      if (measured["mfu"]) c.measured = measured["mfu"].as<double>();
    }
    if (!r["plan"] || !(r["model"]["layers"] || r["model"]["catalog"]) || c.measured <= 0) {
      c.skipped = "its source does not publish the plan and model shape";
    } else if (r["unsupported"]) {
      c.skipped = r["unsupported"].as<std::string>();
    } else {
      c.config = describe_row(r);
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

int run_training_validation(const TrainingValidationOptions& o) {
  if (!fs::exists(o.cases)) throw InputError(fmt::format("{}: training validation cases not found", o.cases));
  std::vector<TrainingCase> cases = read_cases(o.cases);
  const fs::path work =
      o.keep.empty() ? fs::temp_directory_path() / fmt::format("hetsim-training-validation-{}", ::getpid()) : fs::path(o.keep);
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
  if (o.keep.empty()) fs::remove_all(work, ec);

  std::string table = "| case | configuration | metric | published | simulated | error |\n|---|---|---|---|---|---|\n";
  std::string csv = "id,metric,published,simulated,error\n";
  std::vector<double> errors;
  std::map<std::string, std::vector<double>> errors_by_source;  // ref -> |error| of its rows that ran
  // NeMo's rows, taken apart: published and simulated model TFLOP/s/GPU and where the step goes.
  std::string nemo_table =
      "| case | published tokens/s/GPU | simulated | error | published model TFLOP/s/GPU | simulated model TFLOP/s/GPU "
      "(Megatron count) | step s | compute | TP comm | CP comm | PP bubble | PP comm | DP comm | optimizer + idle | peak GiB |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  int outside = 0, failures = 0;
  for (const TrainingCase& c : cases) {
    const auto shown = [&](double v) {
      return by_tokens(c) ? fmt::format("{:.0f}", v) : c.family == "gpt" ? fmt::format("{:.1f}", v) : fmt::format("{:.1f}%", 100 * v);
    };
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
    errors_by_source[c.ref].push_back(std::abs(error));
    if (is_nemo(c)) {
      const nlohmann::json& t = c.summary;
      const nlohmann::json& per = t["time_per_iteration"];
      const double step = t["step_time_s"].get<double>();
      const auto part = [&](const char* key) { return fmt::format("{:.1f}%", 100 * per[key].get<double>() / step); };
      nemo_table += fmt::format(
          "| {} | {:.0f} | {:.0f} | {:+.1f}% | {} | {:.1f} | {:.3f} | {} | {} | {} | {} | {} | {} | {:.1f}% | {:.1f} |\n", c.id, c.measured,
          c.simulated, 100 * error, c.row["measured"]["tflops_per_gpu"] ? c.row["measured"]["tflops_per_gpu"].as<std::string>() : "-",
          t["model_tflops_per_gpu"].get<double>(), step, part("compute_s"), part("tp_comm_s"), part("cp_comm_s"), part("pp_bubble_s"),
          part("pp_comm_s"), part("dp_comm_s"), 100 * (per["optimizer_s"].get<double>() + per["idle_s"].get<double>()) / step,
          t.contains("peak_memory_gib") ? t["peak_memory_gib"].get<double>() : 0.0);
    }
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
  std::string by_source;
  for (auto& [ref, errs] : errors_by_source) {
    std::sort(errs.begin(), errs.end());
    by_source += fmt::format("- {}: {} cases, median abs error {:.1f}%, {} within 10%, max {:.1f}%\n", ref, errs.size(),
                             100 * errs[errs.size() / 2], std::count_if(errs.begin(), errs.end(), [](double e) { return e <= 0.10; }),
                             100 * errs.back());
  }
  const bool any_nemo = std::any_of(cases.begin(), cases.end(), [](const TrainingCase& c) {
    return is_nemo(c) && c.skipped.empty() && c.failure.empty();
  });
  AtomicFile md(o.out);
  md.write(fmt::format(
      "# Training validation: hetsim against published training throughput\n\nGenerated by `hetsim validation --training` "
      "from {}. error = (simulated - published) / published, each in its source's accounting. {}.\n\n"
      "Set where the source does not say: Megatron-LM Table 1 rows run micro-batch 1, the 1F1B schedule, no sequence "
      "parallelism, no distributed optimizer and the gradient all-reduce after the last backward (Megatron-LM of 2021); every row runs on nodes of eight GPUs (DGX A100 with eight 200 Gb/s HDR "
      "NICs, HGX H100 with eight 400 Gb/s NICs) on a fabric without oversubscription; llm-foundry's FSDP FULL_SHARD runs "
      "as ZeRO-3 with its in-pass gathers exposed; MPT's ALiBi attention as the GPT entry's learned positions. "
      "NeMo's DGX-H100 FP8 rows (G1) run FP8 GEMMs (BF16 weights, FP32 master weights), BF16 gradients (the NeMo "
      "launcher's GPT3 FP8 performance configs set grad_sync_dtype: bf16), the distributed "
      "optimizer (ZeRO-1) with grad-reduce and param-gather overlapped, sequence parallelism and TP communication overlap "
      "when TP > 1, no activation recompute, the interleaved 1F1B schedule with VP virtual stages when VP > 1 (else "
      "1F1B), dp = GPUs / (TP x PP x CP), CP as hetsim's K/V ring under the attention, and Megatron's default layer split; GPT rows use "
      "the GPT-2 vocabulary (50,257, unpadded). DeepSeek-V3's row (D1) runs the settings its Technical Report states (the "
      "row's `settings` in the case file), micro-batch 1 (not stated), and zb_h1 with overlapped all-to-alls in place of "
      "DualPipe (hetsim's `dualpipe` holds two model copies and, by its memory estimate, does not fit the H800s there). "
      "Megatron-Bridge's DeepSeek-V3 row (B1) runs its perf script's settings (the row's `settings`: MoE parallel "
      "folding with sequence parallelism, DeepEP, overlapped all-to-alls), FP8 GEMMs inferred (its table has no precision "
      "column), and hetsim's default layer split in place of its layout.\n\nBy source:\n\n{}\n{}{}",
      o.cases, summary, by_source, table,
      any_nemo ? fmt::format("\n## NeMo DGX-H100 FP8 rows (G1), taken apart\n\nThe step's time by kind (mean over rank "
                             "groups, as a share of the step); simulated model TFLOP/s/GPU is hetsim's Megatron count "
                             "(full attention, no recompute): NeMo's published TFLOP/s/GPU is its tokens/s/GPU times "
                             "the same count per token (to 0.2%, tests/e2e/training_cases_test.cpp), so both "
                             "columns have the same error.\n\n{}",
                             nemo_table)
               : std::string()));
  md.commit();
  AtomicFile out_csv(fs::path(o.out).replace_extension(".csv").string());
  out_csv.write(csv);
  out_csv.commit();
  fmt::print("{}\nwrote {}\n", summary, o.out);
  if (failures) throw InputError(fmt::format("{} training validation case(s) could not run (see {})", failures, o.out));
  return outside ? 1 : 0;
}

}  // namespace hetsim::tools
