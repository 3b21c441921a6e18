#include "sweep/search.hpp"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "sim/core/io/atomic_file.hpp"
#include "sim/core/error.hpp"

namespace hetsim::sweep {
namespace fs = std::filesystem;

namespace {
nlohmann::json read_summary(const std::string& folder) {
  std::ifstream in((fs::path(folder) / "summary.json").string());
  auto s = nlohmann::json::parse(in, nullptr, false);
  if (s.is_discarded()) throw InputError(fmt::format("{}/summary.json: not valid JSON", folder));
  return s;
}
}  // namespace

bool meets_slo(const std::string& folder, const std::vector<SloTarget>& targets) {
  const auto s = read_summary(folder);
  if (s["requests"]["rejected"].get<long>() > 0) return false;
  for (const auto& t : targets) {
    if (t.metric == "attainment") {
      // A run without an slo section has no attainment (and no goodput section to hold it).
      const auto goodput = s.find("goodput");
      if (goodput == s.end() || !goodput->contains("slo_attainment"))
        throw InputError(fmt::format("{}/summary.json: no SLO attainment: search.slo.attainment needs the scenario's slo "
                                     "section (e.g. slo: {{ttft: 250 ms, tpot: 100 ms}})", folder));
      if (goodput->at("slo_attainment").get<double>() < t.limit) return false;
      continue;
    }
    const auto& stat = s["latency_s"][t.metric];
    if (stat["count"].get<long>() == 0 || stat[t.statistic].get<double>() > t.limit) return false;
  }
  return true;
}

SearchResult bisect(const Search& search, const std::string& config,
                    const std::function<std::optional<std::string>(double, int)>& probe) {
  SearchResult r;
  r.config = config;
  auto check = [&](double rate) -> std::optional<bool> {
    const auto folder = probe(rate, r.probes++);
    if (!folder) return std::nullopt;
    if (!r.cost_per_hour) {
      const auto s = read_summary(*folder);
      if (s.contains("cost_per_hour") && !s["cost_per_hour"].is_null()) r.cost_per_hour = s["cost_per_hour"].get<double>();
    }
    return meets_slo(*folder, search.slo);
  };
  // Latency percentiles grow with the arrival rate, so the feasible rates form an interval [0, max].
  const auto lo_ok = check(search.lo);
  if (!lo_ok) return r.status = "failed", r;
  if (!*lo_ok) return r.status = "below_range", r;
  const auto hi_ok = check(search.hi);
  if (!hi_ok) return r.status = "failed", r;
  if (*hi_ok) return r.max_rate = search.hi, r.status = "above_range", r;
  double lo = search.lo, hi = search.hi;
  while (hi - lo > search.tolerance * lo) {
    const double mid = 0.5 * (lo + hi);
    const auto ok = check(mid);
    if (!ok) return r.status = "failed", r;
    (*ok ? lo : hi) = mid;
  }
  r.max_rate = lo;
  r.status = "ok";
  return r;
}

std::string write_search_results(const Spec& spec, const std::vector<SearchResult>& results, const std::string& out_dir) {
  const Search& search = *spec.search;
  AtomicFile csv((fs::path(out_dir) / "max_rate.csv").string());
  std::string header;
  for (const auto& a : spec.axes) header += a.key + ",";
  csv.write(header + "max_rate,probes,status,cost_per_hour\n");
  std::string report = fmt::format("max {} meeting {}:\n", search.axis, [&] {
    std::string t;
    for (const auto& s : search.slo)
      t += s.metric == "attainment" ? fmt::format("{}SLO attainment >= {:g}", t.empty() ? "" : ", ", s.limit)
                                    : fmt::format("{}{} <= {:g} s", t.empty() ? "" : ", ", s.label, s.limit);
    return t;
  }());
  const SearchResult* cheapest = nullptr;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    const auto& point = spec.points[i];
    std::string params, row;
    for (const auto& a : point.params) {
      row += a.value + ",";
      params += fmt::format("{}{}={}", params.empty() ? "" : " ", a.key, a.value);
    }
    const std::string rate = r.max_rate ? fmt::format("{}", *r.max_rate) : "";
    const std::string cost = r.cost_per_hour ? fmt::format("{}", *r.cost_per_hour) : "";
    csv.write(fmt::format("{}{},{},{},{}\n", row, rate, r.probes, r.status, cost));
    report += fmt::format("  {:<48} {:>10} {:<12} ({} runs{})\n", params.empty() ? "(base)" : params,
                          r.max_rate ? fmt::format("{:.3g}", *r.max_rate) : "-", r.status, r.probes,
                          r.cost_per_hour ? fmt::format(", ${:.2f}/h", *r.cost_per_hour) : "");
    if (search.target_rate && r.max_rate && *r.max_rate >= *search.target_rate && r.cost_per_hour &&
        (!cheapest || *r.cost_per_hour < *cheapest->cost_per_hour))
      cheapest = &r;
  }
  csv.commit();
  if (search.target_rate) {
    nlohmann::ordered_json j;
    j["target_rate"] = *search.target_rate;
    if (cheapest) {
      const auto& point = spec.points[static_cast<std::size_t>(cheapest - results.data())];
      nlohmann::ordered_json params = nlohmann::ordered_json::object();
      for (const auto& a : point.params) params[a.key] = a.value;
      j["config"] = params;
      j["max_rate"] = *cheapest->max_rate;
      j["cost_per_hour"] = *cheapest->cost_per_hour;
      report += fmt::format("cheapest configuration reaching {:g}: {} (max {:.3g}, ${:.2f}/h)\n", *search.target_rate,
                            params.dump(), *cheapest->max_rate, *cheapest->cost_per_hour);
    } else {
      j["config"] = nullptr;
      report += fmt::format("no configuration with a known cost reaches {:g}\n", *search.target_rate);
    }
    AtomicFile out((fs::path(out_dir) / "cheapest.json").string());
    out.write(j.dump(2) + "\n");
    out.commit();
  }
  return report;
}

}  // namespace hetsim::sweep
