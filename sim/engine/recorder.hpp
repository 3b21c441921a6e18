#pragma once
// Collects what happens during a run: request outcomes, per-step rows (streamed to steps.csv as
// they happen, so memory stays flat on long runs), the Chrome-trace timeline, and the integral of
// requests in the system (for the Little's-law self-check). Checks that time never goes backwards.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sim/core/atomic_file.hpp"
#include "sim/core/request.hpp"
#include "sim/engine/records.hpp"
#include "sim/engine/scenario.hpp"

namespace hetsim::sim {

/// What one step did, as recorded.
struct StepRow {
  int replica = 0;
  double start = 0;
  double duration = 0;
  std::int64_t prefill_tokens = 0;
  std::int64_t decode_seqs = 0;
  std::int64_t batch_seqs = 0;
  std::int64_t kv_blocks_used = 0;
  std::int64_t kv_blocks_total = 0;
  std::int64_t swap_out_tokens = 0;  ///< KV tokens copied device -> swap tier before the step
  std::int64_t swap_in_tokens = 0;   ///< KV tokens copied back before the step
  double transfer_time = 0;          ///< seconds of the step spent waiting for those copies
};

class Recorder {
 public:
  /// `out_dir` empty: keep results in memory only (tests, benchmarks of the engine alone).
  Recorder(const Scenario& scenario, std::string out_dir);

  void on_arrival(const Request& request, double now);
  void on_first_scheduled(std::int64_t id, int replica, double now);
  void on_first_token(std::int64_t id, double now);
  void on_complete(std::int64_t id, int preemptions, double now);
  void on_reject(std::int64_t id, int replica, std::string reason, double now);
  void on_step(const StepRow& row);

  /// Files in the output folder, closed but not yet renamed into place (see commit()).
  void finish(double end_time);
  /// Renames every output into place; summary.json last, so its presence marks a complete run.
  void commit();

  const std::vector<RequestRecord>& requests() const { return requests_; }
  const std::vector<ReplicaRecord>& replicas() const { return replicas_; }
  double end_time() const { return end_time_; }
  /// Time-average number of requests in the system over [0, end].
  double mean_in_system() const { return end_time_ > 0 ? in_system_area_ / end_time_ : 0; }
  std::int64_t step_count() const { return total_steps_; }
  const std::string& out_dir() const { return out_dir_; }
  std::vector<std::string> files() const;

 private:
  void advance_in_system(double now, int delta);
  std::string file(const char* name) const;

  const Scenario& scenario_;
  std::string out_dir_;
  std::vector<RequestRecord> requests_;
  std::vector<ReplicaRecord> replicas_;
  std::vector<double> replica_clock_;
  std::unique_ptr<AtomicFile> steps_csv_, timeline_, requests_csv_, summary_json_, resolved_yaml_;
  bool first_timeline_event_ = true;
  double in_system_area_ = 0;
  double in_system_since_ = 0;
  std::int64_t in_system_ = 0;
  std::int64_t total_steps_ = 0;
  double end_time_ = 0;
};

}  // namespace hetsim::sim
