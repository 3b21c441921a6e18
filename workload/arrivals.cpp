#include "workload/arrivals.hpp"

#include "workload/closed_loop.hpp"
#include "workload/open_loop.hpp"
#include "workload/sessions.hpp"
#include "workload/tenants.hpp"
#include "workload/think_time.hpp"

namespace hetsim::workload {

bool is_closed_loop(const config::Node& workload) { return workload.has("concurrency"); }

namespace {
std::unique_ptr<Arrivals> make_issue_policy(const config::Node& workload, std::unique_ptr<RequestStream> pool,
                                            const WorkloadTotals& totals, std::uint64_t seed) {
  if (workload.get<std::string>("source").default_to("synthetic").value() == "sessions") {
    // A session's turns follow each other as they end (its think time belongs to the source).
    if (is_closed_loop(workload))
      workload.fail_key("concurrency", workload.child("concurrency").shown(),
                        "sessions send each turn after the previous one ends; their number in flight follows from "
                        "workload.arrival (session starts)");
    return std::make_unique<SessionArrivals>(std::move(pool), totals);
  }
  if (!is_closed_loop(workload)) {
    if (workload.has("think_time"))
      workload.fail_key("think_time", workload.child("think_time").shown(),
                        "a think time belongs to closed-loop clients: give workload.concurrency too");
    return std::make_unique<OpenLoop>(std::move(pool), totals);
  }
  const int clients = workload.get<int>("concurrency").in_range(1, 1000000);
  return std::make_unique<ClosedLoop>(std::move(pool), totals, clients, ThinkTime::parse(workload), seed);
}
}  // namespace

std::unique_ptr<Arrivals> make_arrivals(const config::Node& workload, std::unique_ptr<RequestStream> pool,
                                        const WorkloadTotals& totals, std::uint64_t seed) {
  auto arrivals = make_issue_policy(workload, std::move(pool), totals, seed);
  if (auto tenants = workload.maybe("tenants")) return with_tenants(std::move(arrivals), Tenants(*tenants, seed));
  return arrivals;
}

}  // namespace hetsim::workload
