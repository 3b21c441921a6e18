#include "sweep/points_table.hpp"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "sim/core/io/atomic_file.hpp"
#include "sim/core/error.hpp"
#include "sim/core/metric.hpp"

namespace hetsim::sweep {
namespace fs = std::filesystem;

namespace {
/// The sweep columns: every run metric declaring one, whether or not a given point's run has it
/// (its cells are then empty), in declaration order; distributions give _mean, _p50, _p90, _p99.
struct SweepColumn {
  std::string name;
  std::vector<std::string> path;  ///< in summary.json
};

const std::vector<SweepColumn>& sweep_columns() {
  static const std::vector<SweepColumn> columns = [] {
    std::vector<SweepColumn> out;
    for (const auto& m : metrics::catalog().all()) {
      if (m.scope != metrics::Scope::run || m.sweep.empty()) continue;
      std::vector<std::string> path;
      for (std::size_t begin = 0, dot = 0; dot != std::string::npos; begin = dot + 1) {
        dot = m.key.find('.', begin);
        path.push_back(m.key.substr(begin, dot == std::string::npos ? std::string::npos : dot - begin));
      }
      if (m.agg != metrics::Agg::distribution) {
        out.push_back({m.sweep, path});
        continue;
      }
      for (const char* stat : {"mean", "p50", "p90", "p99"}) {
        auto p = path;
        p.push_back(stat);
        out.push_back({m.sweep + "_" + stat, p});
      }
    }
    return out;
  }();
  return columns;
}
}  // namespace

const std::vector<std::string>& metric_columns() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& c : sweep_columns()) out.push_back(c.name);
    return out;
  }();
  return names;
}

std::vector<std::string> metric_cells(const std::string& folder) {
  std::ifstream in((fs::path(folder) / "summary.json").string());
  const auto s = nlohmann::json::parse(in, nullptr, false);
  if (s.is_discarded()) throw InputError(fmt::format("{}/summary.json: not valid JSON", folder));
  std::vector<std::string> row;
  for (const auto& c : sweep_columns()) {
    const nlohmann::json* v = &s;
    for (const auto& k : c.path) {
      if (!v->is_object() || !v->contains(k)) {
        v = nullptr;
        break;
      }
      v = &(*v)[k];
    }
    row.push_back(v == nullptr || v->is_null() ? std::string() : v->dump());
  }
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

PointsCount write_points_csv(const Spec& spec, const PointRunner& runner, const std::string& out_dir, bool require_all) {
  PointsCount count;
  auto& missing = count.missing;
  AtomicFile csv((fs::path(out_dir) / "points.csv").string());
  csv.write("point");
  for (const auto& a : spec.axes) csv.write("," + csv_cell(a.key));
  csv.write(",status");
  for (const auto& c : metric_columns()) csv.write("," + c);
  csv.write("\n");
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
    const bool infeasible = done && fs::exists(fs::path(runner.folder(rel)) / "infeasible.txt");
    const char* status = infeasible ? "infeasible" : done ? "ok" : "failed";
    csv.write(fmt::format(",{}", status));
    auto cells =
        done && !infeasible ? metric_cells(runner.folder(rel)) : std::vector<std::string>(metric_columns().size());
    for (const auto& c : cells) csv.write("," + c);
    csv.write("\n");
    count.rows.push_back({&p, status, std::move(cells)});
    if (infeasible) count.infeasible.push_back(p.name);
    else if (done) ++count.ok;
    else count.failed.push_back(p.name);
  }
  if (require_all && !missing.empty()) {
    std::string list;
    for (std::size_t i = 0; i < missing.size() && i < 10; ++i) list += (i ? ", " : "") + missing[i];
    throw InputError(fmt::format("{}: {} of {} points have not run yet ({}{}); run the remaining shards first",
                                 out_dir, missing.size(), spec.points.size(), list, missing.size() > 10 ? ", ..." : ""));
  }
  csv.commit();
  return count;
}

}  // namespace hetsim::sweep
