#pragma once
// What the summary needs to know of the requests, accumulated one record at a time as records
// leave the request log (in id order), so that nothing per request is kept once it has ended:
// counts, token totals, SLO attainment, rejection reasons, closed-loop think times and the
// distributions of the request metrics (TTFT, TPOT, E2E, queueing) over the run and per pool.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sim/core/metric.hpp"
#include "sim/metrics/distribution.hpp"
#include "sim/metrics/records.hpp"
#include "sim/metrics/run_info.hpp"

namespace hetsim::sim {

/// The run's pools in order of first appearance, and each instance's pool index.
struct PoolIndex {
  std::vector<std::string> names;
  std::vector<int> of_instance;
  explicit PoolIndex(const RunInfo& info);
};

struct RequestCounts {
  std::int64_t requests = 0, completed = 0, rejected = 0, dropped = 0, clipped = 0;
  std::int64_t output_tokens = 0, all_tokens = 0;  ///< of completed requests
  std::int64_t good = 0;                           ///< completed within every SLO given
  std::map<std::string, std::int64_t> rejected_by_reason;  ///< by the reason's code (before ':')
  double think_sum = 0;  ///< closed loop: think times before clients' later requests
  std::int64_t thinks = 0;
};

/// One tenant's requests (workload.tenants).
struct TenantTally {
  std::int32_t priority = 0;
  std::int64_t requests = 0, completed = 0, good = 0;
  std::int64_t prompt_tokens = 0, output_tokens = 0;  ///< of completed requests: the service it got
  Distribution ttft, e2e;
};

class RequestTally {
 public:
  explicit RequestTally(const RunInfo& info);
  void add(const RequestRecord& r);
  const RequestCounts& counts() const { return counts_; }
  /// Per tenant, by tenant id (empty without tenants).
  const std::map<std::int32_t, TenantTally>& tenants() const { return tenants_; }
  /// Mean time in the system of the admitted requests (completed or rejected).
  double mean_sojourn() const { return sojourns_ ? sojourn_sum_.total() / static_cast<double>(sojourns_) : 0.0; }
  /// Request metric `id` over the run's completed requests (`pool` < 0) or those of pool `pool`.
  Stats stats(metrics::MetricId id, int pool = -1) const;

 private:
  void emit(metrics::MetricId id, double value, int instance);

  Slo slo_;
  PoolIndex pools_;
  RequestCounts counts_;
  CompensatedSum sojourn_sum_;  ///< only the mean is wanted: no distribution kept
  std::int64_t sojourns_ = 0;
  std::map<std::uint32_t, std::vector<Distribution>> values_;  ///< by metric: [0] the run, [1 + p] pool p
  std::map<std::int32_t, TenantTally> tenants_;                ///< by tenant id
};

}  // namespace hetsim::sim
