#include "sim/metrics/request_tally.hpp"

#include <algorithm>

#include "sim/metrics/serving_metrics.hpp"

namespace hetsim::sim {
namespace sm = serving_metrics;

PoolIndex::PoolIndex(const RunInfo& info) {
  for (const auto& in : info.instances) {
    auto it = std::find(names.begin(), names.end(), in.pool);
    if (it == names.end()) it = names.insert(names.end(), in.pool);
    of_instance.push_back(static_cast<int>(it - names.begin()));
  }
}

RequestTally::RequestTally(const RunInfo& info) : slo_(info.slo), pools_(info) {}

void RequestTally::emit(metrics::MetricId id, double value, int instance) {
  auto& dists = values_[id.index];
  if (dists.empty()) dists.resize(1 + pools_.names.size());
  dists[0].add(value);
  if (instance >= 0 && static_cast<std::size_t>(instance) < pools_.of_instance.size())
    dists[1 + static_cast<std::size_t>(pools_.of_instance[static_cast<std::size_t>(instance)])].add(value);
}

void RequestTally::add(const RequestRecord& r) {
  RequestCounts& c = counts_;
  ++c.requests;
  if (r.tenant >= 0) {
    TenantTally& t = tenants_[r.tenant];
    t.priority = r.priority;
    ++t.requests;
  }
  if (r.facts.think >= 0) c.think_sum += r.facts.think, ++c.thinks;
  if (r.facts.clipped) ++c.clipped;
  // Dropped requests never entered the system: no time in it, outside every statistic below.
  if (r.status == RequestStatus::dropped) {
    ++c.dropped;
    return;
  }
  sojourn_sum_.add(r.completion - r.arrival);
  ++sojourns_;
  if (r.status == RequestStatus::rejected) {
    ++c.rejected;
    ++c.rejected_by_reason[r.reason.substr(0, r.reason.find(':'))];
    return;
  }
  ++c.completed;
  // TTFT and queueing belong to where the request started (its prefill), TPOT and E2E to where
  // it finished (its decode instance under P/D disaggregation; the same one otherwise).
  emit(sm::kTtft, r.ttft(), r.replica);
  emit(sm::kE2e, r.e2e(), r.completion_replica);
  emit(sm::kQueue, r.first_scheduled - r.arrival, r.replica);
  if (r.output_tokens > 1) emit(sm::kTpot, r.tpot(), r.completion_replica);
  if (r.kv_handoff_s >= 0) emit(sm::kKvHandoff, r.kv_handoff_s, r.completion_replica);
  c.output_tokens += r.output_tokens;
  c.all_tokens += r.output_tokens + r.prompt_tokens;
  const bool ok = (!slo_.ttft || r.ttft() <= *slo_.ttft) && (!slo_.e2e || r.e2e() <= *slo_.e2e) &&
                  (!slo_.tpot || r.output_tokens <= 1 || r.tpot() <= *slo_.tpot);
  if (ok) ++c.good;
  if (r.tenant >= 0) {
    TenantTally& t = tenants_[r.tenant];
    ++t.completed;
    if (ok) ++t.good;
    t.prompt_tokens += r.prompt_tokens;
    t.output_tokens += r.output_tokens;
    t.ttft.add(r.ttft());
    t.e2e.add(r.e2e());
  }
}

Stats RequestTally::stats(metrics::MetricId id, int pool) const {
  const auto it = values_.find(id.index);
  if (it == values_.end()) return {};
  return it->second.at(static_cast<std::size_t>(pool + 1)).stats();
}

}  // namespace hetsim::sim
