#include "sweep/points_table.hpp"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "sim/core/atomic_file.hpp"
#include "sim/core/error.hpp"

namespace hetsim::sweep {
namespace fs = std::filesystem;

const std::vector<std::string>& metric_columns() {
  static const std::vector<std::string> columns = {
      "completed", "rejected", "duration_s", "request_throughput", "output_token_throughput", "total_token_throughput",
      "ttft_mean", "ttft_p50", "ttft_p90", "ttft_p99", "tpot_mean", "tpot_p50", "tpot_p90", "tpot_p99",
      "e2e_mean", "e2e_p50", "e2e_p90", "e2e_p99", "goodput", "slo_attainment", "kv_utilization_mean",
      "kv_utilization_peak", "preemptions", "gpus", "cost_per_hour"};
  return columns;
}

std::vector<std::string> metric_cells(const std::string& folder) {
  std::ifstream in((fs::path(folder) / "summary.json").string());
  const auto s = nlohmann::json::parse(in, nullptr, false);
  if (s.is_discarded()) throw InputError(fmt::format("{}/summary.json: not valid JSON", folder));
  auto cell = [](const nlohmann::json& v) { return v.is_null() ? std::string() : v.dump(); };
  auto at = [&](std::initializer_list<const char*> path) {
    const nlohmann::json* v = &s;
    for (const char* k : path) {
      if (!v->is_object() || !v->contains(k)) return std::string();
      v = &(*v)[k];
    }
    return cell(*v);
  };
  std::vector<std::string> row = {at({"requests", "completed"}), at({"requests", "rejected"}), at({"duration_s"}),
                                  at({"throughput", "requests_per_s"}), at({"throughput", "output_tokens_per_s"}),
                                  at({"throughput", "total_tokens_per_s"})};
  for (const char* metric : {"ttft", "tpot", "e2e"})
    for (const char* stat : {"mean", "p50", "p90", "p99"}) row.push_back(at({"latency_s", metric, stat}));
  for (auto cellv : {at({"goodput", "requests_per_s"}), at({"goodput", "slo_attainment"}), at({"kv_utilization", "mean"}),
                     at({"kv_utilization", "peak"}), at({"preemptions"}), at({"gpus"}), at({"cost_per_hour"})})
    row.push_back(cellv);
  return row;
}

namespace {
std::string csv_cell(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}
}  // namespace

std::size_t write_points_csv(const Spec& spec, const PointRunner& runner, const std::string& out_dir, bool require_all) {
  std::vector<std::string> missing;
  AtomicFile csv((fs::path(out_dir) / "points.csv").string());
  csv.write("point");
  for (const auto& a : spec.axes) csv.write("," + csv_cell(a.key));
  csv.write(",status");
  for (const auto& c : metric_columns()) csv.write("," + c);
  csv.write("\n");
  std::size_t ok = 0;
  for (const auto& p : spec.points) {
    const std::string rel = "points/" + p.name;
    const bool done = runner.finished(rel, runner.with_fixed(p.params));
    const bool attempted = fs::exists(fs::path(runner.folder(rel)) / "log.txt");
    if (!done && !attempted) {
      missing.push_back(p.name);
      continue;
    }
    csv.write(p.name);
    for (const auto& a : p.params) csv.write("," + csv_cell(a.value));
    csv.write(done ? ",ok" : ",failed");
    const auto cells = done ? metric_cells(runner.folder(rel)) : std::vector<std::string>(metric_columns().size());
    for (const auto& c : cells) csv.write("," + c);
    csv.write("\n");
    ok += done ? 1 : 0;
  }
  if (require_all && !missing.empty()) {
    std::string list;
    for (std::size_t i = 0; i < missing.size() && i < 10; ++i) list += (i ? ", " : "") + missing[i];
    throw InputError(fmt::format("{}: {} of {} points have not run yet ({}{}); run the remaining shards first",
                                 out_dir, missing.size(), spec.points.size(), list, missing.size() > 10 ? ", ..." : ""));
  }
  csv.commit();
  return ok;
}

}  // namespace hetsim::sweep
