#include "sweep/best_point.hpp"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "sim/core/io/atomic_file.hpp"

namespace hetsim::sweep {

namespace {
std::optional<double> number(const std::string& cell) {
  if (cell.empty()) return std::nullopt;
  try {
    std::size_t used = 0;
    const double v = std::stod(cell, &used);
    if (used != cell.size() || !std::isfinite(v)) return std::nullopt;
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}
}  // namespace

std::string write_best(const Objective& objective, const std::vector<PointRow>& rows, const std::string& out_dir) {
  const auto& columns = metric_columns();
  const auto column = static_cast<std::size_t>(std::find(columns.begin(), columns.end(), objective.column) - columns.begin());
  const PointRow* best = nullptr;
  double best_value = 0;
  std::size_t ok = 0, infeasible = 0, failed = 0;
  for (const PointRow& row : rows) {
    if (row.status == "infeasible") ++infeasible;
    if (row.status == "failed") ++failed;
    if (row.status != "ok") continue;
    ++ok;
    const auto v = column < row.cells.size() ? number(row.cells[column]) : std::nullopt;
    if (!v) continue;  // the metric does not apply to this run (e.g. a serving column of a training run)
    if (!best || (objective.maximize ? *v > best_value : *v < best_value)) {
      best = &row;
      best_value = *v;
    }
  }
  nlohmann::ordered_json j;
  j["objective"] = {{objective.maximize ? "maximize" : "minimize", objective.column}};
  j["points"] = {{"ok", ok}, {"infeasible", infeasible}, {"failed", failed}};
  std::string params;
  if (best) {
    j["point"] = best->point->name;
    j["value"] = best_value;
    nlohmann::ordered_json p = nlohmann::ordered_json::object();
    for (const auto& a : best->point->params) {
      p[a.key] = a.value;
      params += fmt::format("{}{}={}", params.empty() ? "" : ", ", a.key, a.value);
    }
    j["params"] = p;
  } else {
    j["point"] = nullptr;
  }
  AtomicFile f((std::filesystem::path(out_dir) / "best.json").string());
  f.write(j.dump(2) + "\n");
  f.commit();
  const std::string tally = fmt::format("{} ok{}{}", ok, infeasible ? fmt::format(", {} infeasible", infeasible) : "",
                                        failed ? fmt::format(", {} failed", failed) : "");
  if (!best) return fmt::format("best: no point has {} ({}); wrote {}/best.json\n", objective.column, tally, out_dir);
  return fmt::format("best: {} ({}): {} = {:.6g}, the {} of {}; wrote {}/best.json\n", best->point->name, params,
                     objective.column, best_value, objective.maximize ? "highest" : "lowest", tally, out_dir);
}

}  // namespace hetsim::sweep
