#pragma once
// Collects what happens during a run: request outcomes, per-step rows (summed up per window into
// step_windows.csv, or each streamed to steps.csv, in time order, so memory stays flat on long
// runs), per-instance aggregates of the declared step
// metrics, the Chrome-trace timeline, and the integral of requests in the system (for the
// Little's-law self-check). Checks that time never goes backwards and that bounded step metrics
// (KV blocks in use <= capacity) hold. Knows nothing of the summary: summary.json is added by
// write_summary() (sim/metrics/summary.hpp) through write_file().
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sim/core/io/atomic_file.hpp"
#include "sim/core/io/result_folder.hpp"
#include "sim/core/metric.hpp"
#include "sim/core/request.hpp"
#include "sim/metrics/records.hpp"
#include "sim/metrics/request_log.hpp"
#include "sim/metrics/request_tally.hpp"
#include "sim/metrics/run_info.hpp"
#include "sim/metrics/step_row_merge.hpp"
#include "sim/metrics/step_windows.hpp"

namespace hetsim::sim {

class Recorder {
 public:
  /// `out_dir` empty: keep results in memory only (tests, benchmarks of the engine alone).
  /// Otherwise locks `out_dir` and writes into a private folder beside it (ResultFolder); the
  /// earlier content of `out_dir` stays untouched until commit().
  Recorder(RunInfo info, std::string out_dir);

  void on_arrival(const Request& request, double now, const ArrivalFacts& facts = {});
  /// A request that is never admitted (serving.over_length: drop): recorded, but it never enters
  /// the system (no time in it, outside Little's law and the latency statistics).
  void on_drop(const Request& request, double now, std::string reason, const ArrivalFacts& facts = {});
  /// Request `id` first ran at `now` on `replica`, with `cached_tokens` of its prompt found in the prefix cache.
  void on_first_scheduled(std::int64_t id, int replica, double now, std::int64_t cached_tokens = 0);
  void on_first_token(std::int64_t id, double now);
  /// Request `id`'s KV moved to another instance (P/D hand-off): `bytes` over the network,
  /// `seconds` from the reservation to the landing.
  void on_kv_handoff(std::int64_t id, double bytes, double seconds);
  /// A migration ended (done or given up).
  void on_migration(const MigrationRecord& m);
  /// Every migration, in the order they ended.
  const std::vector<MigrationRecord>& migration_log() const { return migration_log_; }
  /// An instance started, became ready, began draining, was revived or stopped.
  void on_scaling(const ScalingRecord& r);
  /// Every scaling event, in time order.
  const std::vector<ScalingRecord>& scaling_log() const { return scaling_log_; }
  /// `replica` finished it (-1: the replica it was first scheduled on).
  void on_complete(std::int64_t id, int preemptions, double now, int replica = -1);
  void on_reject(std::int64_t id, int replica, std::string reason, double now);
  void on_step(const StepRow& row);
  /// Nothing emitted from now on happens before `t` (less SimGrid's timing tolerance): what is
  /// buffered before it is written. Instances may report steps ahead of the engine's clock
  /// (coalescing), so rows and the requests-in-system count are put in time order here; ties
  /// are broken by instance, then report order. The order is the same however the engine
  /// interleaves its instances, which keeps results byte-identical with coalescing on and off.
  void release_before(double t);

  /// Checks every request finished; closes steps.csv and timeline.json and writes requests.csv and
  /// resolved.yaml (closed, not yet renamed into place: see commit()).
  void finish(double end_time);
  /// Writes a further result file in the output folder (nothing without one); committed after the
  /// files above, in the order written.
  void write_file(const std::string& name, std::string_view text);
  /// Closes every output and publishes the private folder as `out_dir` in one step (the earlier
  /// content is replaced as a whole). Throws interrupt::Interrupted, publishing nothing, if a
  /// SIGINT/SIGTERM arrived before.
  void commit();
  /// Keeps `out_dir`/`name` of the earlier content in the published folder (see ResultFolder::carry).
  void carry(const std::string& name);
  /// True if `out_dir` held an earlier run when this one started.
  bool had_previous() const { return folder_ && folder_->had_previous(); }

  const RunInfo& info() const { return info_; }
  const metrics::ActiveSet& active() const { return active_; }
  /// What the summary needs of the requests that have ended (fed in id order).
  const RequestTally& tally() const { return tally_; }
  /// `sink` receives every request's final record, in id order, once it and every earlier one
  /// have ended (records are not kept: a run holds only the requests in flight).
  void add_request_sink(RequestLog::Sink sink) { log_.add_sink(std::move(sink)); }
  const std::vector<ReplicaRecord>& replicas() const { return replicas_; }
  /// An instance's KV tiers at the end of the run, added up by tier name over instances.
  void add_kv_tiers(const std::vector<KvTierRecord>& tiers);
  const std::vector<KvTierRecord>& kv_tiers() const { return kv_tiers_; }
  /// Raw aggregate over instance `instance`'s steps of the instance metric `id` (sum, max, or the
  /// integral of value x step duration for time_mean); 0 for metrics not aggregated from steps.
  double step_aggregate(std::size_t instance, metrics::MetricId id) const;
  double end_time() const { return end_time_; }
  /// Time-average number of requests in the system over [0, end].
  double mean_in_system() const { return end_time_ > 0 ? in_system_area_ / end_time_ : 0; }
  /// Most requests in the system at once (arrived, not yet completed or rejected).
  std::int64_t peak_in_system() const { return peak_in_system_; }
  std::int64_t step_count() const { return total_steps_; }
  const std::string& out_dir() const { return out_dir_; }
  std::vector<std::string> files() const;

 private:
  struct Column {
    std::uint32_t slot;
    bool integer;
  };
  struct Aggregate {
    std::uint32_t slot;
    metrics::Agg agg;
    std::uint32_t metric;  ///< the instance metric it feeds
  };
  struct Bound {
    std::uint32_t slot, limit;
  };
  struct TimelineArg {
    std::uint32_t slot;
    std::string name;
  };

  /// Counts `delta` requests into or out of the system at `now`, once every earlier change is in.
  void advance_in_system(double now, int delta);
  /// Queues an in-system change at `now` until release_before() passes it.
  void in_system_change(double now, int delta);
  /// InvariantError if `t` is before what has already been released.
  void check_not_released(double t, const char* what) const;
  void emit_row(const StepRow& row);
  std::string file(const std::string& name) const;
  void write_step_line(const StepRow& row);
  void write_request_line(const RequestRecord& r);

  RunInfo info_;
  metrics::ActiveSet active_;
  std::string out_dir_;
  std::vector<MigrationRecord> migration_log_;
  std::vector<ScalingRecord> scaling_log_;
  RequestLog log_;      ///< requests in flight; ended ones go, in id order, to the tally and requests.csv
  RequestTally tally_;
  bool csv_clients_ = false, csv_clip_ = false, csv_cached_ = false, csv_sessions_ = false, csv_handoff_ = false, csv_tenants_ = false, csv_migration_ = false;  ///< requests.csv's optional column groups, by the run's features
  std::vector<ReplicaRecord> replicas_;
  std::vector<KvTierRecord> kv_tiers_;  ///< in order of first appearance
  std::vector<double> replica_clock_;
  std::vector<Column> columns_;
  std::vector<Aggregate> aggregates_;  ///< sums, then maxima, then time integrals
  std::size_t n_sum_ = 0, n_max_ = 0;
  std::vector<double> accumulators_;  ///< [instance][aggregate]
  std::vector<Bound> bounds_;
  std::vector<TimelineArg> timeline_args_;
  std::unique_ptr<ResultFolder> folder_;  ///< declared before the files: they close first
  std::unique_ptr<AtomicFile> steps_csv_, step_windows_csv_, timeline_, requests_csv_, resolved_yaml_;
  std::unique_ptr<StepWindows> windows_;  ///< writes step_windows_csv_
  std::vector<std::unique_ptr<AtomicFile>> extra_files_;
  bool first_timeline_event_ = true;
  // Time-ordering buffers (see release_before): step rows, and changes of requests in the system.
  struct PendingChange {
    double time;
    int delta;
  };
  StepRowMerge rows_;
  std::vector<PendingChange> pending_changes_;  ///< min-heap by time
  double released_before_ = -1;  ///< everything earlier has been written
  double in_system_area_ = 0;
  double in_system_since_ = 0;
  std::int64_t in_system_ = 0;
  std::int64_t peak_in_system_ = 0;
  std::int64_t total_steps_ = 0;
  double end_time_ = 0;
};

}  // namespace hetsim::sim
