#include "sim/engine/summary.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "sim/core/units.hpp"
#include "sim/engine/recorder.hpp"

namespace hetsim::sim {

Stats describe(std::vector<double> v) {
  Stats s;
  s.count = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  auto pct = [&](double q) {
    const double pos = q * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const auto hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
  };
  s.p50 = pct(0.50);
  s.p90 = pct(0.90);
  s.p99 = pct(0.99);
  s.max = v.back();
  return s;
}

Summary summarize(const Scenario& sc, const Recorder& rec) {
  Summary s;
  s.scenario = sc.name;
  s.model = sc.model.name;
  s.seed = sc.seed;
  s.fleet = describe_fleet(sc);
  double cost = 0;
  bool cost_known = true;
  for (const auto& r : sc.replicas) {
    s.devices += r.parallel.tp;
    cost += r.parallel.tp * r.device->cost_per_hour;
    cost_known = cost_known && r.device->cost_per_hour > 0;
  }
  if (cost_known) s.cost_per_hour = cost;
  for (const auto& r : sc.replicas) {
    const std::string src = fmt::format("{}: {}", r.device->name, r.device->efficiency_source);
    if (std::find(s.cost_model_sources.begin(), s.cost_model_sources.end(), src) == s.cost_model_sources.end())
      s.cost_model_sources.push_back(src);
  }

  std::vector<double> ttft, tpot, e2e, queue, sojourn;
  std::int64_t out_tokens = 0, all_tokens = 0;
  std::size_t good = 0;
  for (const auto& r : rec.requests()) {
    ++s.requests;
    sojourn.push_back(r.completion - r.arrival);
    if (r.status == RequestStatus::rejected) {
      ++s.rejected;
      ++s.rejected_by_reason[r.reason.substr(0, r.reason.find(':'))];
      continue;
    }
    ++s.completed;
    ttft.push_back(r.ttft());
    e2e.push_back(r.e2e());
    queue.push_back(r.first_scheduled - r.arrival);
    if (r.output_tokens > 1) tpot.push_back(r.tpot());
    out_tokens += r.output_tokens;
    all_tokens += r.output_tokens + r.prompt_tokens;
    const bool ok = (!sc.slo.ttft || r.ttft() <= *sc.slo.ttft) && (!sc.slo.e2e || r.e2e() <= *sc.slo.e2e) &&
                    (!sc.slo.tpot || r.output_tokens <= 1 || r.tpot() <= *sc.slo.tpot);
    if (ok) ++good;
  }
  s.duration = rec.end_time();
  const double d = s.duration > 0 ? s.duration : 1.0;
  s.request_throughput = static_cast<double>(s.completed) / d;
  s.output_token_throughput = static_cast<double>(out_tokens) / d;
  s.total_token_throughput = static_cast<double>(all_tokens) / d;
  s.ttft = describe(ttft);
  s.tpot = describe(tpot);
  s.e2e = describe(e2e);
  s.queue = describe(queue);
  s.has_slo = sc.slo.any();
  s.goodput = static_cast<double>(good) / d;
  s.slo_attainment = s.requests ? static_cast<double>(good) / static_cast<double>(s.requests) : 0;

  double util_sum = 0;
  for (std::size_t i = 0; i < rec.replicas().size(); ++i) {
    const ReplicaRecord& r = rec.replicas()[i];
    const ReplicaPlan& plan = sc.replicas[i];
    s.moves_kv = s.moves_kv || plan.kv->store().tiers() > 1;
    s.swap_out_tokens += r.swap_out_tokens;
    s.swap_in_tokens += r.swap_in_tokens;
    s.swap_bytes += static_cast<double>(r.swap_out_tokens + r.swap_in_tokens) * plan.kv_bytes_per_token * plan.parallel.tp;
    s.transfer_time += r.transfer_time;
    s.preemptions += r.preemptions;
    s.steps += r.steps;
    const double total = static_cast<double>(r.kv_blocks_total);
    Summary::Replica rep;
    rep.device = r.device;
    rep.tensor_parallel = r.tensor_parallel;
    rep.completed = r.completed;
    rep.steps = r.steps;
    rep.preemptions = r.preemptions;
    rep.prefill_tokens = r.prefill_tokens;
    rep.decode_tokens = r.decode_tokens;
    rep.kv_blocks_total = r.kv_blocks_total;
    rep.swap_out_tokens = r.swap_out_tokens;
    rep.swap_in_tokens = r.swap_in_tokens;
    rep.transfer_time = r.transfer_time;
    rep.busy_fraction = r.busy_time / d;
    rep.kv_utilization_mean = r.kv_block_seconds / (total * d);
    rep.kv_utilization_peak = static_cast<double>(r.kv_blocks_peak) / total;
    util_sum += rep.kv_utilization_mean;
    s.kv_utilization_peak = std::max(s.kv_utilization_peak, rep.kv_utilization_peak);
    s.replicas.push_back(rep);
  }
  s.kv_utilization_mean = rec.replicas().empty() ? 0 : util_sum / static_cast<double>(rec.replicas().size());

  // Per pool, in the order pools first appear.
  std::vector<std::vector<double>> pool_ttft, pool_tpot, pool_e2e;
  std::vector<int> pool_of(sc.replicas.size());
  for (std::size_t i = 0; i < sc.replicas.size(); ++i) {
    auto it = std::find_if(s.pools.begin(), s.pools.end(), [&](const Summary::Pool& p) { return p.name == sc.replicas[i].pool; });
    if (it == s.pools.end()) {
      Summary::Pool pool;
      pool.name = sc.replicas[i].pool;
      pool.device = sc.replicas[i].device->name;
      pool.device_kind = sc.replicas[i].device->kind_name;
      s.pools.push_back(pool);
      pool_ttft.emplace_back(), pool_tpot.emplace_back(), pool_e2e.emplace_back();
      it = s.pools.end() - 1;
    }
    pool_of[i] = static_cast<int>(it - s.pools.begin());
    it->replicas += 1;
    it->gpus += sc.replicas[i].parallel.tp;
    it->busy_fraction += s.replicas[i].busy_fraction;
    it->kv_utilization_mean += s.replicas[i].kv_utilization_mean;
  }
  for (const auto& r : rec.requests()) {
    if (r.status != RequestStatus::completed) continue;
    const auto p = static_cast<std::size_t>(pool_of[static_cast<std::size_t>(r.replica)]);
    ++s.pools[p].completed;
    pool_ttft[p].push_back(r.ttft());
    pool_e2e[p].push_back(r.e2e());
    if (r.output_tokens > 1) pool_tpot[p].push_back(r.tpot());
  }
  for (std::size_t p = 0; p < s.pools.size(); ++p) {
    auto& pool = s.pools[p];
    pool.busy_fraction /= pool.replicas;
    pool.kv_utilization_mean /= pool.replicas;
    pool.request_throughput = static_cast<double>(pool.completed) / d;
    pool.ttft = describe(pool_ttft[p]);
    pool.tpot = describe(pool_tpot[p]);
    pool.e2e = describe(pool_e2e[p]);
  }
  s.mean_in_system = rec.mean_in_system();
  s.arrival_rate = static_cast<double>(s.requests) / d;
  s.mean_sojourn = describe(sojourn).mean;
  return s;
}

namespace {
nlohmann::ordered_json stats_json(const Stats& st) {
  return {{"count", st.count}, {"mean", st.mean}, {"p50", st.p50}, {"p90", st.p90}, {"p99", st.p99}, {"max", st.max}};
}
}  // namespace

std::string summary_json(const Summary& s) {
  nlohmann::ordered_json j;
  j["scenario"] = s.scenario;
  j["model"] = s.model;
  j["fleet"] = s.fleet;
  j["seed"] = s.seed;
  j["requests"] = {{"total", s.requests}, {"completed", s.completed}, {"rejected", s.rejected}};
  j["rejected_by_reason"] = s.rejected_by_reason;
  j["preemptions"] = s.preemptions;
  j["steps"] = s.steps;
  if (s.moves_kv)
    j["kv_swap"] = {{"out_tokens", s.swap_out_tokens}, {"in_tokens", s.swap_in_tokens}, {"bytes", s.swap_bytes},
                    {"transfer_s", s.transfer_time}};
  j["duration_s"] = s.duration;
  j["throughput"] = {{"requests_per_s", s.request_throughput},
                     {"output_tokens_per_s", s.output_token_throughput},
                     {"total_tokens_per_s", s.total_token_throughput}};
  j["latency_s"] = {{"ttft", stats_json(s.ttft)}, {"tpot", stats_json(s.tpot)}, {"e2e", stats_json(s.e2e)},
                    {"queue", stats_json(s.queue)}};
  if (s.has_slo) j["goodput"] = {{"requests_per_s", s.goodput}, {"slo_attainment", s.slo_attainment}};
  j["kv_utilization"] = {{"mean", s.kv_utilization_mean}, {"peak", s.kv_utilization_peak}};
  j["littles_law"] = {{"mean_in_system", s.mean_in_system},
                      {"arrival_rate_per_s", s.arrival_rate},
                      {"mean_sojourn_s", s.mean_sojourn},
                      {"lambda_times_w", s.arrival_rate * s.mean_sojourn}};
  j["cost_model"] = s.cost_model_sources;
  j["gpus"] = s.devices;
  j["cost_per_hour"] = s.cost_per_hour ? nlohmann::ordered_json(*s.cost_per_hour) : nlohmann::ordered_json(nullptr);
  j["pools"] = nlohmann::ordered_json::array();
  for (const auto& p : s.pools)
    j["pools"].push_back({{"name", p.name},
                          {"device", p.device},
                          {"device_kind", p.device_kind},
                          {"replicas", p.replicas},
                          {"gpus", p.gpus},
                          {"completed", p.completed},
                          {"requests_per_s", p.request_throughput},
                          {"busy_fraction", p.busy_fraction},
                          {"kv_utilization_mean", p.kv_utilization_mean},
                          {"latency_s", {{"ttft", stats_json(p.ttft)}, {"tpot", stats_json(p.tpot)}, {"e2e", stats_json(p.e2e)}}}});
  j["replicas"] = nlohmann::ordered_json::array();
  for (const auto& r : s.replicas)
    j["replicas"].push_back({{"device", r.device},
                             {"tensor_parallel", r.tensor_parallel},
                             {"completed", r.completed},
                             {"steps", r.steps},
                             {"busy_fraction", r.busy_fraction},
                             {"prefill_tokens", r.prefill_tokens},
                             {"decode_tokens", r.decode_tokens},
                             {"preemptions", r.preemptions},
                             {"swap_out_tokens", r.swap_out_tokens},
                             {"swap_in_tokens", r.swap_in_tokens},
                             {"transfer_s", r.transfer_time},
                             {"kv_blocks_total", r.kv_blocks_total},
                             {"kv_utilization_mean", r.kv_utilization_mean},
                             {"kv_utilization_peak", r.kv_utilization_peak}});
  return j.dump(2) + "\n";
}

namespace {
template <class... Args>
void add_line(std::string& out, fmt::format_string<Args...> format, Args&&... args) {
  fmt::format_to(std::back_inserter(out), format, std::forward<Args>(args)...);
  out += '\n';
}
}  // namespace

std::string summary_table(const Summary& s, const Slo& slo) {
  std::string out;
  auto line = [&]<class... Args>(fmt::format_string<Args...> format, Args&&... args) {
    add_line(out, format, std::forward<Args>(args)...);
  };
  line("hetsim: {}  ({} on {}, seed {})", s.scenario, s.model, s.fleet, s.seed);
  line("  requests    {} completed, {} rejected, {} preemptions, {} steps, {:.3f} s simulated", s.completed,
       s.rejected, s.preemptions, s.steps, s.duration);
  for (const auto& [reason, n] : s.rejected_by_reason) line("  rejected    {} x {}", n, reason);
  line("  throughput  {:.3f} req/s, {:.1f} output tok/s, {:.1f} total tok/s", s.request_throughput,
       s.output_token_throughput, s.total_token_throughput);
  if (s.has_slo) {
    std::string what;
    if (slo.ttft) what += fmt::format("TTFT <= {}", units::format(*slo.ttft, units::Dim::time));
    if (slo.tpot) what += fmt::format("{}TPOT <= {}", what.empty() ? "" : ", ", units::format(*slo.tpot, units::Dim::time));
    if (slo.e2e) what += fmt::format("{}E2E <= {}", what.empty() ? "" : ", ", units::format(*slo.e2e, units::Dim::time));
    line("  goodput     {:.3f} req/s ({:.1f}% of requests meet {})", s.goodput, 100 * s.slo_attainment, what);
  }
  if (s.moves_kv)
    line("  KV swap     {} tokens out, {} in, {:.2f} GB moved, {:.3f} s of steps waiting for copies", s.swap_out_tokens,
         s.swap_in_tokens, s.swap_bytes / 1e9, s.transfer_time);
  line("  KV cache    {:.1f}% mean, {:.1f}% peak utilization", 100 * s.kv_utilization_mean, 100 * s.kv_utilization_peak);
  if (s.cost_per_hour)
    line("  cost        ${:.2f}/h for {} GPUs; ${:.3f} per 1M output tokens", *s.cost_per_hour, s.devices,
         s.output_token_throughput > 0 ? *s.cost_per_hour / 3600.0 / s.output_token_throughput * 1e6 : 0.0);
  line("");
  line("  {:<12} {:>10} {:>10} {:>10} {:>10}", "latency", "mean", "p50", "p90", "p99");
  auto row = [&](const char* name, const Stats& st, double scale) {
    line("  {:<12} {:>10.2f} {:>10.2f} {:>10.2f} {:>10.2f}", name, st.mean * scale, st.p50 * scale, st.p90 * scale,
         st.p99 * scale);
  };
  row("TTFT (ms)", s.ttft, 1e3);
  row("TPOT (ms)", s.tpot, 1e3);
  row("E2E (s)", s.e2e, 1);
  row("queue (ms)", s.queue, 1e3);
  if (s.pools.size() > 1) {
    line("");
    line("  {:<28} {:>5} {:>8} {:>10} {:>6} {:>11} {:>11} {:>11} {:>11}", "pool", "kind", "replicas", "completed", "busy", "TTFT p50 ms",
         "TTFT p90 ms", "TPOT p50 ms", "TPOT p90 ms");
    for (const auto& p : s.pools)
      line("  {:<28} {:>5} {:>8} {:>10} {:>5.0f}% {:>11.2f} {:>11.2f} {:>11.2f} {:>11.2f}", p.name, p.device_kind, p.replicas, p.completed,
           100 * p.busy_fraction, 1e3 * p.ttft.p50, 1e3 * p.ttft.p90, 1e3 * p.tpot.p50, 1e3 * p.tpot.p90);
  }
  line("");
  for (const auto& src : s.cost_model_sources) line("  cost model  {}", src);
  return out;
}

}  // namespace hetsim::sim
