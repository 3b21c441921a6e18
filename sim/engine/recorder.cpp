#include "sim/engine/recorder.hpp"

#include <filesystem>
#include <sstream>

#include "sim/core/error.hpp"
#include "sim/engine/summary.hpp"

namespace hetsim::sim {

Recorder::Recorder(const Scenario& scenario, std::string out_dir)
    : scenario_(scenario), out_dir_(std::move(out_dir)), replica_clock_(scenario.replicas.size(), 0.0) {
  requests_.resize(scenario.requests.size());
  for (const auto& plan : scenario.replicas) {
    ReplicaRecord r;
    r.device = plan.device->name;
    r.tensor_parallel = plan.parallel.tp;
    r.kv_blocks_total = plan.kv->total_blocks();
    replicas_.push_back(r);
  }
  if (out_dir_.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(out_dir_, ec);
  if (ec) throw InputError(fmt::format("--out {}: cannot create folder ({})", out_dir_, ec.message()));
  if (scenario.output.steps) {
    steps_csv_ = std::make_unique<AtomicFile>(file("steps.csv"));
    steps_csv_->write("replica,start_s,duration_s,prefill_tokens,decode_seqs,batch_seqs,kv_blocks_used,kv_blocks_total,swap_out_tokens,swap_in_tokens,transfer_s\n");
  }
  if (scenario.output.timeline) {
    timeline_ = std::make_unique<AtomicFile>(file("timeline.json"));
    timeline_->write("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n");
    for (std::size_t r = 0; r < scenario.replicas.size(); ++r) {
      timeline_->print("{}{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":0,\"tid\":{},\"args\":{{\"name\":\"replica {} ({})\"}}}}",
                       first_timeline_event_ ? "" : ",\n", r, r, scenario.replicas[r].device->name);
      first_timeline_event_ = false;
    }
  }
}

std::string Recorder::file(const char* name) const { return (std::filesystem::path(out_dir_) / name).string(); }

void Recorder::advance_in_system(double now, int delta) {
  if (now < in_system_since_)
    throw InvariantError(fmt::format("time went backwards: event at {} after {}", now, in_system_since_));
  in_system_area_ += static_cast<double>(in_system_) * (now - in_system_since_);
  in_system_since_ = now;
  in_system_ += delta;
}

void Recorder::on_arrival(const Request& request, double now) {
  RequestRecord& r = requests_[static_cast<std::size_t>(request.id)];
  r.id = request.id;
  r.arrival = now;
  r.prompt_tokens = request.prompt_tokens;
  r.output_tokens = request.output_tokens;
  advance_in_system(now, +1);
}

void Recorder::on_first_scheduled(std::int64_t id, int replica, double now) {
  RequestRecord& r = requests_[static_cast<std::size_t>(id)];
  r.first_scheduled = now;
  r.replica = replica;
}

void Recorder::on_first_token(std::int64_t id, double now) { requests_[static_cast<std::size_t>(id)].first_token = now; }

void Recorder::on_complete(std::int64_t id, int preemptions, double now) {
  RequestRecord& r = requests_[static_cast<std::size_t>(id)];
  r.completion = now;
  r.preemptions = preemptions;
  r.status = RequestStatus::completed;
  ReplicaRecord& rep = replicas_[static_cast<std::size_t>(r.replica)];
  ++rep.completed;
  rep.preemptions += preemptions;
  advance_in_system(now, -1);
}

void Recorder::on_reject(std::int64_t id, int replica, std::string reason, double now) {
  RequestRecord& r = requests_[static_cast<std::size_t>(id)];
  r.status = RequestStatus::rejected;
  r.replica = replica;
  r.completion = now;
  r.reason = std::move(reason);
  advance_in_system(now, -1);
}

void Recorder::on_step(const StepRow& row) {
  double& clock = replica_clock_[static_cast<std::size_t>(row.replica)];
  if (row.start < clock || row.duration < 0)
    throw InvariantError(fmt::format("replica {}: step at {} (duration {}) overlaps the previous one ending at {}",
                                     row.replica, row.start, row.duration, clock));
  if (row.kv_blocks_used > row.kv_blocks_total)
    throw InvariantError(fmt::format("replica {}: {} KV blocks in use > capacity {}", row.replica, row.kv_blocks_used,
                                     row.kv_blocks_total));
  clock = row.start + row.duration;
  ReplicaRecord& rep = replicas_[static_cast<std::size_t>(row.replica)];
  ++rep.steps;
  ++total_steps_;
  rep.busy_time += row.duration;
  rep.kv_block_seconds += static_cast<double>(row.kv_blocks_used) * row.duration;
  rep.kv_blocks_peak = std::max(rep.kv_blocks_peak, row.kv_blocks_used);
  rep.prefill_tokens += row.prefill_tokens;
  rep.decode_tokens += row.decode_seqs;
  rep.swap_out_tokens += row.swap_out_tokens;
  rep.swap_in_tokens += row.swap_in_tokens;
  rep.transfer_time += row.transfer_time;
  if (steps_csv_)
    steps_csv_->print_compiled(FMT_COMPILE("{},{},{},{},{},{},{},{},{},{},{}\n"), row.replica, row.start, row.duration,
                                  row.prefill_tokens, row.decode_seqs, row.batch_seqs, row.kv_blocks_used,
                                  row.kv_blocks_total, row.swap_out_tokens, row.swap_in_tokens, row.transfer_time);
  if (timeline_) {
    // Chrome trace "complete" events; times in microseconds.
    timeline_->print(
        ",\n{{\"name\":\"{}\",\"cat\":\"step\",\"ph\":\"X\",\"pid\":0,\"tid\":{},\"ts\":{:.3f},\"dur\":{:.3f},"
        "\"args\":{{\"prefill_tokens\":{},\"decode_seqs\":{},\"kv_blocks_used\":{}}}}}",
        row.prefill_tokens > 0 ? (row.decode_seqs > 0 ? "mixed" : "prefill") : "decode", row.replica, row.start * 1e6,
        row.duration * 1e6, row.prefill_tokens, row.decode_seqs, row.kv_blocks_used);
  }
}

void Recorder::finish(double end_time) {
  end_time_ = end_time;
  advance_in_system(end_time, 0);
  for (const auto& r : requests_)
    if (r.status == RequestStatus::pending)
      throw InvariantError(fmt::format("request {} neither completed nor rejected at the end of the run", r.id));
  if (out_dir_.empty()) return;
  if (steps_csv_) steps_csv_->close();
  if (timeline_) {
    timeline_->write("\n]}\n");
    timeline_->close();
  }
  requests_csv_ = std::make_unique<AtomicFile>(file("requests.csv"));
  requests_csv_->write(
      "id,arrival_s,first_scheduled_s,first_token_s,completion_s,prompt_tokens,output_tokens,replica,preemptions,status,"
      "reason\n");
  auto t = [](double v) { return v < 0 ? std::string() : fmt::format("{}", v); };
  for (const auto& r : requests_) {
    const bool done = r.status == RequestStatus::completed;
    requests_csv_->print("{},{},{},{},{},{},{},{},{},{},{}\n", r.id, r.arrival, t(r.first_scheduled),
                         t(done ? r.first_token : -1), t(done ? r.completion : -1), r.prompt_tokens, r.output_tokens,
                         r.replica, r.preemptions, done ? "completed" : "rejected", r.reason);
  }
  requests_csv_->close();
  resolved_yaml_ = std::make_unique<AtomicFile>(file("resolved.yaml"));
  YAML::Emitter emitter;
  emitter << scenario_.resolved;
  resolved_yaml_->print("# Effective configuration of this run (defaults filled in), from {}\n{}\n", scenario_.file,
                        emitter.c_str());
  resolved_yaml_->close();
  summary_json_ = std::make_unique<AtomicFile>(file("summary.json"));
  summary_json_->write(summary_json(summarize(scenario_, *this)));
  summary_json_->close();
}

void Recorder::commit() {
  for (auto* f : {&steps_csv_, &timeline_, &requests_csv_, &resolved_yaml_, &summary_json_})
    if (*f) (*f)->commit();
}

std::vector<std::string> Recorder::files() const {
  std::vector<std::string> out;
  for (const auto* f : {&requests_csv_, &steps_csv_, &timeline_, &summary_json_, &resolved_yaml_})
    if (*f) out.push_back(std::filesystem::path((*f)->path()).filename().string());
  return out;
}

}  // namespace hetsim::sim
