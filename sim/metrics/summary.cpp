#include "sim/metrics/summary.hpp"

#include <fmt/args.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "sim/core/units.hpp"
#include "sim/metrics/scaling_totals.hpp"
#include "sim/metrics/serving_metrics.hpp"

namespace hetsim::sim {
using metrics::Agg;
using metrics::Metric;
using metrics::MetricId;
using metrics::Scope;
using metrics::Type;
namespace sm = serving_metrics;

namespace {
nlohmann::ordered_json stats_json(const Stats& st) {
  nlohmann::ordered_json j = {{"count", st.count}, {"mean", st.mean}, {"p50", st.p50},
                              {"p90", st.p90},     {"p99", st.p99},   {"max", st.max}};
  // Percentiles from a sketch (runs with many requests) say how far off they may be.
  if (st.max_rank_error > 0) j["max_rank_error"] = st.max_rank_error;
  return j;
}

double as_number(const Value& v) {
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  return 0;
}

/// An aggregate's number in the metric's type (integer counts stay integers in the outputs).
Value typed(const Metric& m, double x) {
  if (m.type == Type::integer && m.per.empty()) return static_cast<std::int64_t>(x);
  return x;
}

const std::vector<Metric>& all() { return metrics::catalog().all(); }
}  // namespace

double Summary::number(MetricId id) const { return as_number(get(id)); }
double Summary::number(const std::vector<Value>& values, MetricId id) const { return as_number(values.at(id.index)); }

Summary summarize(const Recorder& rec) {
  const RunInfo& info = rec.info();
  const std::size_t n_metrics = all().size();
  const std::size_t n_inst = info.instances.size();
  Summary s;
  s.info = info;
  s.active = rec.active();
  s.run.resize(n_metrics);
  s.instances.assign(n_inst, std::vector<Value>(n_metrics));
  auto set = [&](std::vector<Value>& scope_values, MetricId id, Value v) {
    if (s.active(id)) scope_values.at(id.index) = std::move(v);
  };
  const double duration = rec.end_time();
  const double d = duration > 0 ? duration : 1.0;

  // Run facts.
  set(s.run, sm::kScenario, info.scenario);
  set(s.run, sm::kModel, info.model);
  set(s.run, sm::kPrecision, info.precision);
  set(s.run, sm::kFleet, info.fleet);
  set(s.run, sm::kSeed, nlohmann::ordered_json(info.seed));
  // Devices and their cost: a semi-PD worker holds its share of its devices' SMs.
  double device_count = 0;
  double cost = 0;
  bool cost_known = true;
  nlohmann::ordered_json sources = nlohmann::ordered_json::array();
  for (const auto& in : info.instances) {
    device_count += in.tensor_parallel * in.device_share;
    cost += in.tensor_parallel * in.device_share * in.cost_per_hour;
    cost_known = cost_known && in.cost_per_hour > 0;
    const std::string src = fmt::format("{}: {}", in.device, in.cost_model_source);
    if (std::find(sources.begin(), sources.end(), src) == sources.end()) sources.push_back(src);
  }
  set(s.run, sm::kCostModel, sources);
  // Memory: one entry per pool (its replicas are alike), the terms of the KV budget of one device.
  nlohmann::ordered_json memory = nlohmann::ordered_json::array();
  std::vector<std::string> pools_seen;
  for (const auto& in : info.instances) {
    if (std::find(pools_seen.begin(), pools_seen.end(), in.pool) != pools_seen.end()) continue;
    pools_seen.push_back(in.pool);
    const RunInfo::Memory& m = in.memory;
    nlohmann::ordered_json e;
    e["pool"] = in.pool;
    e["device"] = in.device;
    e["tensor_parallel"] = in.tensor_parallel;
    e["usable_bytes"] = m.usable;
    e["usable_source"] = m.usable_source;
    if (!m.kv_device.empty()) e["kv_device"] = m.kv_device;
    if (m.kv_also_on_gpus) e["kv_also_on_gpus"] = true;
    if (!m.kv_link.empty())
      e["kv_link"] = {{"source", m.kv_link}, {"bandwidth_bytes_per_s", m.kv_link_bandwidth},
                      {"back_bandwidth_bytes_per_s", m.kv_link_back_bandwidth}, {"latency_s", m.kv_link_latency},
                      {"contended", m.kv_link_contended}};
    if (m.kv_ranks > 1) e["kv_ranks"] = m.kv_ranks;
    e["gpu_memory_utilization"] = m.utilization;
    e["weights_bytes"] = m.weights;
    e["activation_bytes"] = m.activation;
    e["activation_source"] = m.activation_given ? "activation_reserve" : "computed peak of the largest step";
    e["non_torch_bytes"] = m.non_torch;
    e["cuda_graphs_bytes"] = m.graphs;
    e["kv_bytes"] = m.kv;
    e["kv_source"] = m.kv_given ? "kv_cache_memory" : "what is left";
    e["kv_blocks"] = m.kv_blocks;
    e["block_size"] = m.block_size;
    memory.push_back(std::move(e));
  }
  set(s.run, sm::kMemory, memory);
  const auto devices = static_cast<std::int64_t>(std::llround(device_count));
  set(s.run, sm::kGpus, devices);
  if (cost_known) set(s.run, sm::kCostPerHour, cost);

  // Requests: what the tally counted as each request's record left the log (in id order).
  const RequestTally& tally = rec.tally();
  const RequestCounts& c = tally.counts();
  const std::int64_t requests = c.requests, completed = c.completed, rejected = c.rejected, dropped = c.dropped;
  set(s.run, sm::kRequests, requests);
  set(s.run, sm::kCompleted, completed);
  set(s.run, sm::kRejected, rejected);
  set(s.run, sm::kDropped, dropped);
  set(s.run, sm::kClipped, c.clipped);
  set(s.run, sm::kRejectedByReason, nlohmann::ordered_json(c.rejected_by_reason));
  set(s.run, sm::kDuration, duration);
  const double output_throughput = static_cast<double>(c.output_tokens) / d;
  set(s.run, sm::kRequestThroughput, static_cast<double>(completed) / d);
  set(s.run, sm::kOutputTokenThroughput, output_throughput);
  set(s.run, sm::kTotalTokenThroughput, static_cast<double>(c.all_tokens) / d);
  set(s.run, sm::kGoodput, static_cast<double>(c.good) / d);
  const std::int64_t admitted = requests - dropped;
  set(s.run, sm::kSloAttainment, admitted ? static_cast<double>(c.good) / static_cast<double>(admitted) : 0.0);
  const double arrival_rate = static_cast<double>(admitted) / d;
  const double mean_sojourn = tally.mean_sojourn();
  set(s.run, sm::kMeanInSystem, rec.mean_in_system());
  set(s.run, sm::kArrivalRate, arrival_rate);
  set(s.run, sm::kMeanSojourn, mean_sojourn);
  set(s.run, sm::kLambdaTimesW, arrival_rate * mean_sojourn);
  // Closed loop: every request ends (completed, rejected or dropped) and frees its client, so the
  // cycle is R + Z with R averaged over all requests (a dropped one spends 0 s in the system).
  const double think_mean = c.thinks ? c.think_sum / static_cast<double>(c.thinks) : 0.0;
  const double mean_response = requests ? mean_sojourn * static_cast<double>(admitted) / static_cast<double>(requests) : 0.0;
  set(s.run, sm::kClients, std::int64_t{info.clients});
  set(s.run, sm::kThinkTimeMean, think_mean);
  set(s.run, sm::kPeakInSystem, rec.peak_in_system());
  set(s.run, sm::kClientsFromLaw, static_cast<double>(requests) / d * (mean_response + think_mean));
  if (cost_known)
    set(s.run, sm::kCostPerMillionOutputTokens, output_throughput > 0 ? cost / 3600.0 / output_throughput * 1e6 : 0.0);

  // Instances: what the recorder counted, then every aggregate of step metrics.
  double swap_bytes = 0;
  for (std::size_t i = 0; i < n_inst; ++i) {
    const auto& in = info.instances[i];
    const ReplicaRecord& r = rec.replicas()[i];
    auto& v = s.instances[i];
    set(v, sm::kInstDevice, in.device);
    if (s.active(sm::kInstRole)) set(v, sm::kInstRole, in.role);
    set(v, sm::kInstTensorParallel, std::int64_t{in.tensor_parallel});
    set(v, sm::kInstCompleted, r.completed);
    set(v, sm::kInstSteps, r.steps);
    set(v, sm::kInstBusyFraction, r.busy_time / d);
    set(v, sm::kInstPreemptions, r.preemptions);
    set(v, sm::kInstKvCapacity, in.kv_blocks_total);
    for (std::uint32_t k = 0; k < n_metrics; ++k) {
      const Metric& m = all()[k];
      if (m.scope != Scope::instance || m.agg == Agg::value || !s.active({k})) continue;
      const double raw = rec.step_aggregate(i, {k});
      const double per = m.per.empty() ? 1.0 : as_number(v.at(metrics::catalog().find(Scope::instance, m.per)));
      double x = raw;
      if (m.agg == Agg::time_mean)
        x = m.per.empty() ? raw / d : raw / (per * d);
      else if (!m.per.empty())
        x = raw / per;
      v[k] = typed(m, x);
    }
    if (s.active(sm::kSwapBytes))
      swap_bytes += static_cast<double>(as_number(v[sm::kInstSwapOutTokens.index]) +
                                        as_number(v[sm::kInstSwapInTokens.index])) *
                    in.kv_bytes_per_token * in.tensor_parallel;
  }
  set(s.run, sm::kSwapBytes, swap_bytes);

  // Pools, in the order they first appear.
  const PoolIndex pool_index(info);
  const std::vector<std::string>& pool_names = pool_index.names;
  const std::vector<int>& pool_of = pool_index.of_instance;
  s.pools.assign(pool_names.size(), std::vector<Value>(n_metrics));
  for (std::size_t p = 0; p < pool_names.size(); ++p) {
    auto& v = s.pools[p];
    const auto first = static_cast<std::size_t>(std::find(pool_of.begin(), pool_of.end(), static_cast<int>(p)) - pool_of.begin());
    std::int64_t replicas = 0, gpus = 0;
    for (std::size_t i = 0; i < n_inst; ++i)
      if (pool_of[i] == static_cast<int>(p)) ++replicas, gpus += info.instances[i].tensor_parallel;
    set(v, sm::kPoolName, pool_names[p]);
    set(v, sm::kPoolDevice, info.instances[first].device);
    set(v, sm::kPoolDeviceKind, info.instances[first].device_kind);
    if (s.active(sm::kPoolRole)) set(v, sm::kPoolRole, info.instances[first].role);
    set(v, sm::kPoolReplicas, replicas);
    set(v, sm::kPoolGpus, gpus);
  }

  // Aggregates over instances (pool and run) and over requests (distributions).
  for (std::uint32_t k = 0; k < n_metrics; ++k) {
    const Metric& m = all()[k];
    if ((m.scope != Scope::pool && m.scope != Scope::run) || m.agg == Agg::value || !s.active({k})) continue;
    const bool run = m.scope == Scope::run;
    for (std::size_t p = 0; p < (run ? 1 : s.pools.size()); ++p) {
      auto& target = run ? s.run : s.pools[p];
      const auto src = metrics::catalog().find(m.agg == Agg::distribution ? Scope::request : Scope::instance, m.from);
      if (m.agg == Agg::distribution) {
        target[k] = tally.stats({src}, run ? -1 : static_cast<int>(p));
        continue;
      }
      double acc = 0;
      std::size_t n = 0;
      for (std::size_t i = 0; i < n_inst; ++i) {
        if (!run && pool_of[i] != static_cast<int>(p)) continue;
        const double x = as_number(s.instances[i][src]);
        acc = m.agg == Agg::max ? (n == 0 ? x : std::max(acc, x)) : acc + x;
        ++n;
      }
      if (m.agg == Agg::mean) acc = n ? acc / static_cast<double>(n) : 0.0;
      target[k] = typed(m, acc);
    }
  }
  for (std::size_t p = 0; p < s.pools.size(); ++p)
    set(s.pools[p], sm::kPoolRequestThroughput, s.number(s.pools[p], sm::kPoolCompleted) / d);
  if (s.active(sm::kSpecAcceptanceRate)) {
    const double drafted = s.number(s.run, sm::kSpecDrafted), accepted = s.number(s.run, sm::kSpecAccepted);
    double verifications = 0;
    const auto verify = metrics::catalog().find(Scope::instance, "verify_seqs");
    for (const auto& inst : s.instances) verifications += as_number(inst[verify]);
    set(s.run, sm::kSpecAcceptanceRate, drafted > 0 ? accepted / drafted : 0.0);
    set(s.run, sm::kSpecAcceptanceLength, verifications > 0 ? 1 + accepted / verifications : 1.0);
  }
  if (s.active(sm::kPrefixHitRate)) {
    const double looked = s.number(s.run, sm::kPrefixLookup);
    set(s.run, sm::kPrefixHitRate, looked > 0 ? s.number(s.run, sm::kPrefixHit) / looked : 0.0);
    nlohmann::ordered_json tiers = nlohmann::ordered_json::array();
    for (const KvTierRecord& t : rec.kv_tiers())
      tiers.push_back({{"tier", t.name},
                       {"shared", t.shared},
                       {"capacity_blocks", t.capacity_blocks},
                       {"hit_tokens", t.hit_tokens},
                       {"hit_rate", looked > 0 ? static_cast<double>(t.hit_tokens) / looked : 0.0},
                       {"written_tokens", t.written_tokens},
                       {"evicted_blocks", t.evicted_blocks},
                       {"expired_blocks", t.expired_blocks},
                       {"load_s_estimate", t.load_seconds},
                       {"recompute_s_estimate", t.recompute_seconds}});
    set(s.run, sm::kPrefixTiers, std::move(tiers));
  }
  if (s.active(sm::kMigrations)) {
    std::int64_t done = 0, aborted = 0;
    double bytes = 0;
    Distribution downtime;
    for (const MigrationRecord& m : rec.migration_log()) {
      bytes += m.bytes;
      if (m.aborted) {
        ++aborted;
      } else {
        ++done;
        downtime.add(m.downtime);
      }
    }
    set(s.run, sm::kMigrations,
        nlohmann::ordered_json{{"done", done}, {"aborted", aborted}, {"bytes", bytes}, {"downtime_s", stats_json(downtime.stats())}});
  }
  if (s.active(sm::kScaling)) {
    const ScalingTotals t = scaling_totals(rec.scaling_log(), info, duration);
    nlohmann::ordered_json j{{"starts", t.starts}, {"readies", t.readies}, {"drains", t.drains}, {"revives", t.revives},
                             {"stops", t.stops}, {"cold_start_s", stats_json(t.cold_start_s.stats())},
                             {"weight_bytes_loaded", t.weight_bytes}, {"peak_instances", t.peak_instances},
                             {"least_instances", t.least_instances}};
    // What was paid for: each instance's devices while provisioned, not the whole fleet all run.
    if (cost_known) {
      double usd = 0;
      for (std::size_t i = 0; i < n_inst; ++i)
        usd += t.provisioned_s[i] / 3600.0 * info.instances[i].tensor_parallel * info.instances[i].device_share *
               info.instances[i].cost_per_hour;
      j["cost_usd"] = usd;
      set(s.run, sm::kCostPerMillionOutputTokens, c.output_tokens > 0 ? usd / static_cast<double>(c.output_tokens) * 1e6 : 0.0);
    }
    set(s.run, sm::kScaling, std::move(j));
    set(s.run, sm::kMeanInstances, t.mean_instances);
    set(s.run, sm::kDeviceHours, t.device_hours);
  }
  if (s.active(sm::kTenants)) {
    // Service as VTC weighs it: a prompt token 1, an output token 2 (Sheng et al. OSDI'24).
    double service = 0;
    for (const auto& [id, t] : tally.tenants()) service += static_cast<double>(t.prompt_tokens + 2 * t.output_tokens);
    nlohmann::ordered_json tenants = nlohmann::ordered_json::array();
    for (const auto& [id, t] : tally.tenants()) {
      nlohmann::ordered_json e = {{"tenant", id}, {"priority", t.priority}, {"requests", t.requests}, {"completed", t.completed},
                                  {"prompt_tokens", t.prompt_tokens}, {"output_tokens", t.output_tokens},
                                  {"service_share", service > 0 ? static_cast<double>(t.prompt_tokens + 2 * t.output_tokens) / service : 0.0},
                                  {"ttft_s", stats_json(t.ttft.stats())}, {"e2e_s", stats_json(t.e2e.stats())}};
      if (info.slo.any()) e["slo_attainment"] = t.requests > 0 ? static_cast<double>(t.good) / static_cast<double>(t.requests) : 0.0;
      tenants.push_back(std::move(e));
    }
    set(s.run, sm::kTenants, std::move(tenants));
  }
  return s;
}

namespace {

nlohmann::ordered_json to_json(const Metric& m, const Value& v) {
  return std::visit(
      [&](const auto& x) -> nlohmann::ordered_json {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>)
          return nullptr;
        else if constexpr (std::is_same_v<T, double>)
          return m.type == Type::integer ? nlohmann::ordered_json(static_cast<std::int64_t>(x)) : nlohmann::ordered_json(x);
        else if constexpr (std::is_same_v<T, Stats>)
          return stats_json(x);
        else
          return x;
      },
      v);
}

/// Sets `value` at the dotted `key` below `root`, creating objects in insertion order.
void put(nlohmann::ordered_json& root, const std::string& key, nlohmann::ordered_json value) {
  nlohmann::ordered_json* node = &root;
  std::size_t begin = 0;
  for (std::size_t dot; (dot = key.find('.', begin)) != std::string::npos; begin = dot + 1)
    node = &(*node)[key.substr(begin, dot - begin)];
  (*node)[key.substr(begin)] = std::move(value);
}

nlohmann::ordered_json scope_json(const Summary& s, Scope scope, const std::vector<Value>& values) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (std::uint32_t k = 0; k < all().size(); ++k)
    if (all()[k].scope == scope && !all()[k].key.empty() && s.active({k})) put(j, all()[k].key, to_json(all()[k], values[k]));
  return j;
}
}  // namespace

std::string summary_json(const Summary& s) {
  nlohmann::ordered_json j = scope_json(s, Scope::run, s.run);
  j["pools"] = nlohmann::ordered_json::array();
  for (const auto& p : s.pools) j["pools"].push_back(scope_json(s, Scope::pool, p));
  j["replicas"] = nlohmann::ordered_json::array();
  for (const auto& r : s.instances) j["replicas"].push_back(scope_json(s, Scope::instance, r));
  return j.dump(2) + "\n";
}

namespace {
template <class... Args>
void add_line(std::string& out, fmt::format_string<Args...> format, Args&&... args) {
  fmt::format_to(std::back_inserter(out), format, std::forward<Args>(args)...);
  out += '\n';
}

std::string slo_text(const Slo& slo) {
  std::string what;
  if (slo.ttft) what += fmt::format("TTFT <= {}", units::format(*slo.ttft, units::Dim::time));
  if (slo.tpot) what += fmt::format("{}TPOT <= {}", what.empty() ? "" : ", ", units::format(*slo.tpot, units::Dim::time));
  if (slo.e2e) what += fmt::format("{}E2E <= {}", what.empty() ? "" : ", ", units::format(*slo.e2e, units::Dim::time));
  return what;
}

/// Pushes `v` (x `scale` for numbers) as the positional argument of a table fragment.
void push_value(fmt::dynamic_format_arg_store<fmt::format_context>& args, const Value& v, double scale) {
  if (const auto* i = std::get_if<std::int64_t>(&v); i && scale == 1)
    args.push_back(*i);
  else if (const auto* t = std::get_if<std::string>(&v))
    args.push_back(*t);
  else
    args.push_back(as_number(v) * scale);
}
}  // namespace

std::string summary_table(const Summary& s) {
  std::string out;
  auto line = [&]<class... Args>(fmt::format_string<Args...> format, Args&&... args) {
    add_line(out, format, std::forward<Args>(args)...);
  };
  const RunInfo& info = s.info;
  line("hetsim: {}  ({} on {}, seed {})", info.scenario, info.model, info.fleet, info.seed);
  // Named arguments for fragments: every scalar run metric by name, and the SLO text.
  const std::string slo = slo_text(info.slo);
  auto named = [&](fmt::dynamic_format_arg_store<fmt::format_context>& args) {
    args.push_back(fmt::arg("slo", slo));
    for (std::uint32_t k = 0; k < all().size(); ++k) {
      const Value& v = s.run[k];
      if (all()[k].scope != Scope::run || !s.active({k})) continue;
      if (const auto* i = std::get_if<std::int64_t>(&v)) args.push_back(fmt::arg(all()[k].name.c_str(), *i));
      if (const auto* d = std::get_if<double>(&v)) args.push_back(fmt::arg(all()[k].name.c_str(), *d));
    }
  };
  for (const std::string& label : metrics::catalog().table_lines()) {
    std::vector<std::uint32_t> parts;
    bool complete = true;
    for (std::uint32_t k = 0; k < all().size(); ++k) {
      const Metric& m = all()[k];
      if (m.scope != Scope::run || m.table.line != label || m.agg == Agg::distribution || !s.active({k})) continue;
      parts.push_back(k);
      complete = complete && !std::holds_alternative<std::monostate>(s.run[k]);
    }
    if (parts.empty() || !complete) continue;
    // A JSON object renders one line per entry ("{} x {key}"); anything else one fragment.
    if (const auto* obj = std::get_if<nlohmann::ordered_json>(&s.run[parts.front()]); obj && obj->is_object()) {
      for (const auto& [key, value] : obj->items()) {
        fmt::dynamic_format_arg_store<fmt::format_context> args;
        args.push_back(value.dump());
        args.push_back(fmt::arg("key", key));
        line("  {:<12}{}", label, fmt::vformat(all()[parts.front()].table.format, args));
      }
      continue;
    }
    std::string text;
    for (const auto k : parts) {
      fmt::dynamic_format_arg_store<fmt::format_context> args;
      push_value(args, s.run[k], all()[k].table.scale);
      named(args);
      text += fmt::vformat(all()[k].table.format, args);
    }
    line("  {:<12}{}", label, text);
  }
  line("");
  line("  {:<12} {:>10} {:>10} {:>10} {:>10}", "latency", "mean", "p50", "p90", "p99");
  for (std::uint32_t k = 0; k < all().size(); ++k) {
    const Metric& m = all()[k];
    if (m.scope != Scope::run || m.agg != Agg::distribution || m.table.line.empty() || !s.active({k})) continue;
    const Stats& st = std::get<Stats>(s.run[k]);
    const double scale = m.table.scale;
    line("  {:<12} {:>10.2f} {:>10.2f} {:>10.2f} {:>10.2f}", m.table.line, st.mean * scale, st.p50 * scale,
         st.p90 * scale, st.p99 * scale);
  }
  if (s.pools.size() > 1) {
    line("");
    line("  {:<28} {:>5} {:>8} {:>10} {:>6} {:>11} {:>11} {:>11} {:>11}", "pool", "kind", "replicas", "completed", "busy",
         "TTFT p50 ms", "TTFT p90 ms", "TPOT p50 ms", "TPOT p90 ms");
    for (const auto& p : s.pools) {
      const auto& ttft = std::get<Stats>(p[sm::kPoolTtft.index]);
      const auto& tpot = std::get<Stats>(p[sm::kPoolTpot.index]);
      line("  {:<28} {:>5} {:>8} {:>10} {:>5.0f}% {:>11.2f} {:>11.2f} {:>11.2f} {:>11.2f}",
           std::get<std::string>(p[sm::kPoolName.index]), std::get<std::string>(p[sm::kPoolDeviceKind.index]),
           std::get<std::int64_t>(p[sm::kPoolReplicas.index]), std::get<std::int64_t>(p[sm::kPoolCompleted.index]),
           100 * s.number(p, sm::kPoolBusyFraction), 1e3 * ttft.p50, 1e3 * ttft.p90, 1e3 * tpot.p50, 1e3 * tpot.p90);
    }
  }
  line("");
  if (const auto* sources = std::get_if<nlohmann::ordered_json>(&s.get(sm::kCostModel)))
    for (const auto& src : *sources) line("  cost model  {}", src.get<std::string>());
  // "memory      h100-sxm5-80gb, per device (GiB): 79.18 usable x 0.9 - (14.96 weights, 1.23 activation peak,
  //              0.13 non-torch, 0.00 CUDA graphs) = 54.94 KV, 28130 blocks of 16 tokens" (one line per pool)
  if (const auto* memory = std::get_if<nlohmann::ordered_json>(&s.get(sm::kMemory)))
    for (const auto& m : *memory) {
      const auto gib = [&](const char* key) { return m[key].get<double>() / (1 << 30); };
      const std::string usable = fmt::format("{:.2f} usable{}", gib("usable_bytes"),
                                             m["usable_source"] == "driver-reported total" ? "" : " (datasheet)");
      const std::string terms = fmt::format(
          "{:.2f} weights, {:.2f} activation {}, {:.2f} non-torch, {:.2f} CUDA graphs", gib("weights_bytes"),
          gib("activation_bytes"), m["activation_source"] == "activation_reserve" ? "reserve" : "peak",
          gib("non_torch_bytes"), gib("cuda_graphs_bytes"));
      if (m.contains("kv_device") && m["weights_bytes"].get<double>() > 0) {
        // NEO's GPU-resident KV: the offload side's share and the GPU's own memory, less the GPU's terms.
        // A layer range split without GPU layers: the host's memory less the weights there.
        const bool neo = m.value("kv_also_on_gpus", false);
        line("  memory      {}, KV on {}, per {} (GiB): {:.2f} {}x {:g} - ({}) = {:.2f} KV, {} blocks of {} tokens",
             m["pool"].get<std::string>(), m["kv_device"].get<std::string>(), neo ? "GPU" : "instance", gib("usable_bytes"),
             neo ? "(offload share + GPU) " : "",
             m["gpu_memory_utilization"].get<double>(), terms, gib("kv_bytes"), m["kv_blocks"].get<std::int64_t>(),
             m["block_size"].get<std::int64_t>());
        continue;
      }
      if (m.contains("kv_device")) {
        // Attention offload: the KV cache is on the offload side, its memory shared by the instance's GPUs.
        line("  memory      {}, KV on {}, per GPU (GiB): {:.2f} x {:g} = {:.2f} KV, {} blocks of {} tokens",
             m["pool"].get<std::string>(), m["kv_device"].get<std::string>(), gib("usable_bytes"),
             m["gpu_memory_utilization"].get<double>(), gib("kv_bytes"), m["kv_blocks"].get<std::int64_t>(),
             m["block_size"].get<std::int64_t>());
        continue;
      }
      const std::string split =
          m["kv_source"] == "kv_cache_memory"
              ? fmt::format("{} holds {}; {:.2f} KV (kv_cache_memory)", usable, terms, gib("kv_bytes"))
              : m.contains("kv_ranks")
                  ? fmt::format("{} x {:g} - ({}) = {:.2f} KV per rank, {:.2f} in all {} data-parallel ranks", usable,
                                m["gpu_memory_utilization"].get<double>(), terms,
                                gib("kv_bytes") / m["kv_ranks"].get<int>(), gib("kv_bytes"), m["kv_ranks"].get<int>())
                  : fmt::format("{} x {:g} - ({}) = {:.2f} KV", usable, m["gpu_memory_utilization"].get<double>(), terms,
                                gib("kv_bytes"));
      line("  memory      {}, per device (GiB): {}, {} blocks of {} tokens", m["pool"].get<std::string>(), split,
           m["kv_blocks"].get<std::int64_t>(), m["block_size"].get<std::int64_t>());
    }
  return out;
}

std::string metrics_schema_json(const metrics::ActiveSet& active) {
  nlohmann::ordered_json j;
  j["schema"] = "hetsim metrics 1";
  j["features"] = active.features();
  nlohmann::ordered_json columns = {"replica", "start_s", "duration_s"};
  for (const auto idx : metrics::catalog().step_slots())
    if (active({idx}) && !all()[idx].column.empty()) columns.push_back(all()[idx].column);
  j["steps_csv"] = columns;
  nlohmann::ordered_json windows = {"replica", "window_start_s", "window_end_s", "steps", "busy_s"};
  for (const char* kind : sm::kStepKindNames) windows.push_back(fmt::format("busy_{}_s", kind));
  for (const auto idx : metrics::catalog().step_slots())
    if (active({idx}) && !all()[idx].column.empty()) windows.push_back(metrics::window_column(all()[idx]));
  j["step_windows_csv"] = windows;
  j["metrics"] = nlohmann::ordered_json::array();
  for (std::uint32_t k = 0; k < all().size(); ++k) {
    const Metric& m = all()[k];
    if (!active({k})) continue;
    nlohmann::ordered_json e;
    e["name"] = m.name;
    e["scope"] = metrics::to_string(m.scope);
    e["type"] = metrics::to_string(m.type);
    e["unit"] = m.unit;
    e["aggregation"] = metrics::to_string(m.agg);
    if (!m.from.empty()) e["from"] = m.from;
    if (!m.per.empty()) e["per"] = m.per;
    if (!m.column.empty()) e["steps_column"] = m.column;
    if (!m.key.empty())
      e["summary_key"] = m.scope == Scope::instance ? "replicas[]." + m.key
                         : m.scope == Scope::pool   ? "pools[]." + m.key
                                                    : m.key;
    if (!m.sweep.empty()) {
      if (m.agg == Agg::distribution)
        e["sweep_columns"] = {m.sweep + "_mean", m.sweep + "_p50", m.sweep + "_p90", m.sweep + "_p99"};
      else
        e["sweep_columns"] = {m.sweep};
    }
    if (!m.table.line.empty()) e["table_line"] = m.table.line;
    e["description"] = m.description;
    j["metrics"].push_back(e);
  }
  return j.dump(2) + "\n";
}

Summary write_summary(Recorder& recorder) {
  Summary s = summarize(recorder);
  recorder.write_file("metrics_schema.json", metrics_schema_json(recorder.active()));
  recorder.write_file("summary.json", summary_json(s));
  return s;
}

}  // namespace hetsim::sim
