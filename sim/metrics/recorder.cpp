#include "sim/metrics/recorder.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "sim/core/error.hpp"
#include "sim/core/interrupt.hpp"
#include "sim/metrics/serving_metrics.hpp"

namespace hetsim::sim {
using metrics::Agg;
using metrics::Scope;

Recorder::Recorder(RunInfo info, std::string out_dir)
    : info_(std::move(info)),
      active_(info_.features),
      out_dir_(std::move(out_dir)),
      tally_(info_),
      replica_clock_(info_.instances.size(), 0.0),
      rows_(info_.instances.size()) {
  log_.add_sink([this](const RequestRecord& r) { tally_.add(r); });
  replicas_.resize(info_.instances.size());
  const auto& cat = metrics::catalog();
  for (std::uint32_t i = 0; i < cat.all().size(); ++i) {
    const metrics::Metric& m = cat.all()[i];
    if (!active_({i})) continue;
    if (m.scope == Scope::step) {
      const std::uint32_t slot = cat.slot_of({i});
      if (!m.column.empty()) columns_.push_back({slot, m.type == metrics::Type::integer});
      if (m.timeline) timeline_args_.push_back({slot, m.name});
      if (!m.at_most.empty()) {
        const auto limit = cat.find(Scope::step, m.at_most);
        if (limit == UINT32_MAX)
          throw std::logic_error(fmt::format("step metric {}: at_most = '{}' is not a step metric", m.name, m.at_most));
        bounds_.push_back({slot, cat.slot_of({limit})});
      }
    } else if (m.scope == Scope::instance && m.agg != Agg::value) {
      aggregates_.push_back({cat.slot_of({cat.find(Scope::step, m.from)}), m.agg, i});
    }
  }
  std::stable_sort(aggregates_.begin(), aggregates_.end(), [](const Aggregate& x, const Aggregate& y) {
    auto rank = [](Agg g) { return g == Agg::sum ? 0 : g == Agg::max ? 1 : 2; };
    return rank(x.agg) < rank(y.agg);
  });
  for (const auto& g : aggregates_) {
    if (g.agg == Agg::sum) ++n_sum_;
    if (g.agg == Agg::max) ++n_max_;
    if (g.agg != Agg::sum && g.agg != Agg::max && g.agg != Agg::time_mean)
      throw std::logic_error(fmt::format("instance metric {}: steps aggregate by sum, max or time_mean",
                                         metrics::catalog().all()[g.metric].name));
  }
  accumulators_.assign(info_.instances.size() * aggregates_.size(), 0.0);
  if (out_dir_.empty()) return;
  folder_ = std::make_unique<ResultFolder>(out_dir_);
  if (info_.output.steps == StepOutput::full) {
    steps_csv_ = std::make_unique<AtomicFile>(file("steps.csv"));
    std::string header = "replica,start_s,duration_s";
    for (const auto& c : columns_) header += "," + cat.all()[cat.step_slots()[c.slot]].column;
    steps_csv_->write(header + "\n");
  } else if (info_.output.steps == StepOutput::windows) {
    step_windows_csv_ = std::make_unique<AtomicFile>(file("step_windows.csv"));
    std::vector<StepWindows::Column> window_columns;
    for (const auto& c : columns_) {
      const metrics::Metric& m = cat.all()[cat.step_slots()[c.slot]];
      window_columns.push_back({c.slot, m.window, c.integer && m.window != Agg::time_mean, metrics::window_column(m)});
    }
    StepWindows::Kinds kinds{{std::begin(serving_metrics::kStepKindNames), std::end(serving_metrics::kStepKindNames)},
                             [](const double* v) { return static_cast<std::size_t>(serving_metrics::step_kind_of(v)); }};
    windows_ = std::make_unique<StepWindows>(*step_windows_csv_, info_.output.step_window, info_.instances.size(),
                                             std::move(window_columns), std::move(kinds));
  }
  // requests.csv grows as requests end (in id order, through the log). Columns of features a run
  // has: the closed-loop client and its think time; the lengths a request had before
  // over_length: clip shortened it; the prompt tokens found in the prefix cache.
  csv_clients_ = active_.has_feature("closed_loop");
  csv_clip_ = active_.has_feature("over_length_clip");
  csv_cached_ = active_.has_feature("prefix_cache");
  csv_sessions_ = active_.has_feature("sessions");
  csv_handoff_ = active_.has_feature("kv_handoff");
  csv_tenants_ = active_.has_feature("tenants");
  csv_migration_ = active_.has_feature("migration");
  requests_csv_ = std::make_unique<AtomicFile>(file("requests.csv"));
  requests_csv_->print(
      "id,arrival_s,first_scheduled_s,first_token_s,completion_s,prompt_tokens,output_tokens,replica,preemptions,status,"
      "reason{}{}{}{}{}{}{}\n",
      csv_clients_ ? ",client,think_s" : "", csv_clip_ ? ",original_prompt_tokens,original_output_tokens,clipped" : "",
      csv_cached_ ? ",cached_tokens" : "", csv_sessions_ ? ",session,turn,think_s" : "",
      csv_handoff_ ? ",decode_replica,kv_handoff_bytes,kv_handoff_s" : "", csv_tenants_ ? ",tenant,priority" : "",
      csv_migration_ ? ",migrations" : "");
  log_.add_sink([this](const RequestRecord& r) { write_request_line(r); });
  if (info_.output.timeline) {
    timeline_ = std::make_unique<AtomicFile>(file("timeline.json"));
    timeline_->write("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n");
    for (std::size_t r = 0; r < info_.instances.size(); ++r) {
      timeline_->print("{}{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":0,\"tid\":{},\"args\":{{\"name\":\"replica {} ({})\"}}}}",
                       first_timeline_event_ ? "" : ",\n", r, r, info_.instances[r].device);
      first_timeline_event_ = false;
    }
  }
}

std::string Recorder::file(const std::string& name) const {
  return (std::filesystem::path(folder_->staging()) / name).string();
}

namespace {
// How far before a release time a later event may still be: SimGrid reaches a time through sums
// of differences, so an event it wakes at t may carry an exact time an ulp-scale error earlier.
double release_tolerance(double t) { return 1e-9 + 1e-12 * std::abs(t); }

bool later_change(const auto& a, const auto& b) { return a.time > b.time; }
}  // namespace

void Recorder::advance_in_system(double now, int delta) {
  if (now < in_system_since_)
    throw InvariantError(fmt::format("time went backwards: event at {} after {}", now, in_system_since_));
  // The peak counts what the system held for some time: changes at one instant (an arrival
  // rejected on the spot, one request ending as another arrives) net out in any order.
  if (now > in_system_since_) {
    in_system_area_ += static_cast<double>(in_system_) * (now - in_system_since_);
    peak_in_system_ = std::max(peak_in_system_, in_system_);
    in_system_since_ = now;
  }
  in_system_ += delta;
}

void Recorder::check_not_released(double t, const char* what) const {
  if (t < released_before_)
    throw InvariantError(fmt::format("time went backwards: {} at {} s after results up to {} s were written", what, t,
                                     released_before_));
}

void Recorder::in_system_change(double now, int delta) {
  check_not_released(now, "a request arrival or end");
  pending_changes_.push_back({now, delta});
  std::push_heap(pending_changes_.begin(), pending_changes_.end(), later_change<PendingChange, PendingChange>);
}

void Recorder::release_before(double t) {
  const double before = std::isinf(t) ? t : t - release_tolerance(t);
  if (before <= released_before_) return;
  released_before_ = before;
  while (!pending_changes_.empty() && pending_changes_.front().time < before) {
    std::pop_heap(pending_changes_.begin(), pending_changes_.end(), later_change<PendingChange, PendingChange>);
    advance_in_system(pending_changes_.back().time, pending_changes_.back().delta);
    pending_changes_.pop_back();
  }
  if (windows_) windows_->release_before(before);
  rows_.release_before(before, [this](const StepRow& row) { emit_row(row); });
}

void Recorder::on_arrival(const Request& request, double now, const ArrivalFacts& facts) {
  in_system_change(now, +1);
  RequestRecord& r = log_.open(request.id);
  r.arrival = now;
  r.prompt_tokens = request.prompt_tokens;
  r.output_tokens = request.output_tokens;
  r.session = request.session;
  r.turn = request.turn;
  r.tenant = request.tenant;
  r.priority = request.priority;
  r.facts = facts;
}

void Recorder::on_drop(const Request& request, double now, std::string reason, const ArrivalFacts& facts) {
  RequestRecord& r = log_.open(request.id);
  r.arrival = now;
  r.tenant = request.tenant;
  r.priority = request.priority;
  r.completion = now;
  r.prompt_tokens = request.prompt_tokens;
  r.output_tokens = request.output_tokens;
  r.session = request.session;
  r.turn = request.turn;
  r.facts = facts;
  r.status = RequestStatus::dropped;
  r.reason = std::move(reason);
  log_.release_ended();
}

void Recorder::add_kv_tiers(const std::vector<KvTierRecord>& tiers) {
  for (const KvTierRecord& t : tiers) {
    auto it = std::find_if(kv_tiers_.begin(), kv_tiers_.end(), [&](const KvTierRecord& k) { return k.name == t.name; });
    if (it == kv_tiers_.end()) {
      kv_tiers_.push_back(t);
      continue;
    }
    // A shared store's capacity and expiries are the store's, seen alike from every instance.
    if (t.shared) {
      it->capacity_blocks = std::max(it->capacity_blocks, t.capacity_blocks);
      it->expired_blocks = std::max(it->expired_blocks, t.expired_blocks);
    } else {
      it->capacity_blocks += t.capacity_blocks;
      it->expired_blocks += t.expired_blocks;
    }
    it->hit_tokens += t.hit_tokens;
    it->written_tokens += t.written_tokens;
    it->evicted_blocks += t.evicted_blocks;
    it->load_seconds += t.load_seconds;
    it->recompute_seconds += t.recompute_seconds;
  }
}

void Recorder::on_first_scheduled(std::int64_t id, int replica, double now, std::int64_t cached_tokens) {
  RequestRecord& r = log_.at(id);
  r.first_scheduled = now;
  r.replica = replica;
  r.cached_tokens = cached_tokens;
}

void Recorder::on_first_token(std::int64_t id, double now) { log_.at(id).first_token = now; }

void Recorder::on_migration(const MigrationRecord& m) {
  migration_log_.push_back(m);
  if (!m.aborted) ++log_.at(m.request).migrations;
  if (timeline_)
    timeline_->print(",\n{{\"name\":\"migrate {} -> {}{}\",\"ph\":\"X\",\"pid\":0,\"tid\":{},\"ts\":{},\"dur\":{},"
                     "\"args\":{{\"request\":{},\"bytes\":{},\"stages\":{},\"downtime_s\":{}}}}}",
                     m.from, m.to, m.aborted ? " (aborted)" : "", m.from, m.start * 1e6, (m.end - m.start) * 1e6, m.request,
                     m.bytes, m.stages, m.downtime);
}

void Recorder::on_scaling(const ScalingRecord& r) {
  if (!scaling_log_.empty() && r.time < scaling_log_.back().time)
    throw InvariantError(fmt::format("scaling event at {} s recorded after one at {} s", r.time, scaling_log_.back().time));
  scaling_log_.push_back(r);
  if (!timeline_) return;
  // The cold start and the drain as spans on the instance's row, ending at ready and stop.
  if (r.event == ScalingEvent::ready || r.event == ScalingEvent::stop)
    timeline_->print(",\n{{\"name\":\"{}\",\"cat\":\"scaling\",\"ph\":\"X\",\"pid\":0,\"tid\":{},\"ts\":{},\"dur\":{},"
                     "\"args\":{{\"weight_bytes\":{}}}}}",
                     r.event == ScalingEvent::ready ? "cold start" : "draining", r.instance, (r.time - r.seconds) * 1e6,
                     r.seconds * 1e6, r.weight_bytes);
  else
    timeline_->print(",\n{{\"name\":\"{}\",\"cat\":\"scaling\",\"ph\":\"i\",\"s\":\"t\",\"pid\":0,\"tid\":{},\"ts\":{}}}",
                     to_string(r.event), r.instance, r.time * 1e6);
}

void Recorder::on_kv_handoff(std::int64_t id, double bytes, double seconds) {
  RequestRecord& r = log_.at(id);
  r.kv_handoff_bytes += bytes;
  r.kv_handoff_s = std::max(r.kv_handoff_s, 0.0) + seconds;
}

void Recorder::on_complete(std::int64_t id, int preemptions, double now, int replica) {
  RequestRecord& r = log_.at(id);
  in_system_change(now, -1);
  r.completion = now;
  r.preemptions = preemptions;
  r.status = RequestStatus::completed;
  r.completion_replica = replica >= 0 ? replica : r.replica;
  ReplicaRecord& rep = replicas_.at(static_cast<std::size_t>(r.completion_replica));
  ++rep.completed;
  rep.preemptions += preemptions;
  log_.release_ended();
}

void Recorder::on_reject(std::int64_t id, int replica, std::string reason, double now) {
  RequestRecord& r = log_.at(id);
  in_system_change(now, -1);
  r.status = RequestStatus::rejected;
  r.replica = replica;
  r.completion = now;
  r.reason = std::move(reason);
  log_.release_ended();
}

void Recorder::on_step(const StepRow& row) {
  double& clock = replica_clock_[static_cast<std::size_t>(row.replica)];
  if (row.start < clock || row.duration < 0)
    throw InvariantError(fmt::format("replica {}: step at {} (duration {}) overlaps the previous one ending at {}",
                                     row.replica, row.start, row.duration, clock));
  const double* v = row.values.data();
  for (const Bound& b : bounds_)
    if (v[b.slot] > v[b.limit]) {
      const auto& cat = metrics::catalog();
      throw InvariantError(fmt::format("replica {}: {} = {} > {} = {}", row.replica,
                                       cat.all()[cat.step_slots()[b.slot]].name, v[b.slot],
                                       cat.all()[cat.step_slots()[b.limit]].name, v[b.limit]));
    }
  clock = row.start + row.duration;
  ReplicaRecord& rep = replicas_[static_cast<std::size_t>(row.replica)];
  ++rep.steps;
  ++total_steps_;
  rep.busy_time += row.duration;
  // Aggregates are sorted by kind in the constructor: sums, then maxima, then time integrals.
  double* acc = accumulators_.data() + static_cast<std::size_t>(row.replica) * aggregates_.size();
  const Aggregate* a = aggregates_.data();
  std::size_t k = 0;
  for (; k < n_sum_; ++k) acc[k] += v[a[k].slot];
  for (; k < n_sum_ + n_max_; ++k) acc[k] = std::max(acc[k], v[a[k].slot]);
  for (; k < aggregates_.size(); ++k) acc[k] += v[a[k].slot] * row.duration;
  if (windows_) windows_->add(row);
  if (!steps_csv_ && !timeline_) return;
  check_not_released(row.start + row.duration, "a step's end");
  rows_.push(row);
}

void Recorder::emit_row(const StepRow& row) {
  const double* v = row.values.data();
  if (steps_csv_) write_step_line(row);
  if (timeline_) {
    // Chrome trace "complete" events; times in microseconds.
    timeline_->print_compiled(FMT_COMPILE(",\n{{\"name\":\"{}\",\"cat\":\"step\",\"ph\":\"X\",\"pid\":0,\"tid\":{},\"ts\":{:.3f},\"dur\":{:.3f},\"args\":{{"),
                              serving_metrics::step_kind(v), row.replica, row.start * 1e6, row.duration * 1e6);
    for (std::size_t k = 0; k < timeline_args_.size(); ++k)
      timeline_->print_compiled(FMT_COMPILE("{}\"{}\":{}"), k ? "," : "", timeline_args_[k].name,
                                static_cast<std::int64_t>(v[timeline_args_[k].slot]));
    timeline_->write("}}");
  }
}

void Recorder::write_step_line(const StepRow& row) {
  steps_csv_->print_compiled(FMT_COMPILE("{},{},{}"), row.replica, row.start, row.duration);
  for (const Column& c : columns_) {
    const double x = row.values[c.slot];
    if (c.integer)
      steps_csv_->print_compiled(FMT_COMPILE(",{}"), static_cast<std::int64_t>(x));
    else
      steps_csv_->print_compiled(FMT_COMPILE(",{}"), x);
  }
  steps_csv_->write("\n");
}

double Recorder::step_aggregate(std::size_t instance, metrics::MetricId id) const {
  for (std::size_t k = 0; k < aggregates_.size(); ++k)
    if (aggregates_[k].metric == id.index) return accumulators_.at(instance * aggregates_.size() + k);
  return 0;
}

void Recorder::finish(double end_time) {
  end_time_ = end_time;
  release_before(std::numeric_limits<double>::infinity());
  advance_in_system(end_time, 0);
  if (const RequestRecord* r = log_.oldest())
    throw InvariantError(fmt::format("request {} neither completed nor rejected at the end of the run", r->id));
  if (info_.requests > 0 && log_.opened() != static_cast<std::int64_t>(info_.requests))
    throw InvariantError(fmt::format("{} of the workload's {} requests arrived by the end of the run", log_.opened(),
                                     info_.requests));
  if (out_dir_.empty()) return;
  interrupt::check();
  if (steps_csv_) steps_csv_->close();
  if (step_windows_csv_) step_windows_csv_->close();
  if (timeline_) {
    timeline_->write("\n]}\n");
    timeline_->close();
  }
  requests_csv_->close();
  interrupt::check();
  resolved_yaml_ = std::make_unique<AtomicFile>(file("resolved.yaml"));
  resolved_yaml_->print("# Effective configuration of this run (defaults filled in), from {}\n{}\n", info_.file,
                        info_.resolved_yaml);
  resolved_yaml_->close();
}

void Recorder::write_request_line(const RequestRecord& r) {
  auto t = [](double v) { return v < 0 ? std::string() : fmt::format("{}", v); };
  const bool done = r.status == RequestStatus::completed;
  const char* status = done ? "completed" : r.status == RequestStatus::dropped ? "dropped" : "rejected";
  requests_csv_->print("{},{},{},{},{},{},{},{},{},{},{}", r.id, r.arrival, t(r.first_scheduled),
                       t(done ? r.first_token : -1), t(done ? r.completion : -1), r.prompt_tokens, r.output_tokens,
                       r.replica, r.preemptions, status, r.reason);
  if (csv_clients_) requests_csv_->print(",{},{}", r.facts.client, t(r.facts.think));
  if (csv_clip_)
    requests_csv_->print(",{},{},{}", r.facts.original_prompt_tokens, r.facts.original_output_tokens,
                         r.facts.clipped ? "true" : "false");
  if (csv_cached_) requests_csv_->print(",{}", r.cached_tokens);
  if (csv_sessions_) requests_csv_->print(",{},{},{}", r.session, r.turn, t(r.facts.think));
  if (csv_handoff_) requests_csv_->print(",{},{},{}", done ? r.completion_replica : -1, r.kv_handoff_bytes, t(r.kv_handoff_s));
  if (csv_tenants_) requests_csv_->print(",{},{}", r.tenant, r.priority);
  if (csv_migration_) requests_csv_->print(",{}", r.migrations);
  requests_csv_->write("\n");
}

void Recorder::write_file(const std::string& name, std::string_view text) {
  if (out_dir_.empty()) return;
  interrupt::check();
  auto f = std::make_unique<AtomicFile>(file(name));
  f->write(text);
  f->close();
  extra_files_.push_back(std::move(f));
}

void Recorder::commit() {
  if (!folder_) return;
  interrupt::check();
  for (auto* f : {&steps_csv_, &step_windows_csv_, &timeline_, &requests_csv_, &resolved_yaml_})
    if (*f) (*f)->commit();
  for (auto& f : extra_files_) f->commit();
  interrupt::check();
  folder_->publish();
}

void Recorder::carry(const std::string& name) {
  if (folder_) folder_->carry(name);
}

std::vector<std::string> Recorder::files() const {
  std::vector<std::string> out;
  auto name = [](const AtomicFile& f) { return std::filesystem::path(f.path()).filename().string(); };
  for (const auto* f : {&requests_csv_, &steps_csv_, &step_windows_csv_, &timeline_})
    if (*f) out.push_back(name(**f));
  for (const auto& f : extra_files_) out.push_back(name(*f));
  if (resolved_yaml_) out.push_back(name(*resolved_yaml_));
  return out;
}

}  // namespace hetsim::sim
