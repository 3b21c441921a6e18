#include "workload/tenants.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace hetsim::workload {

Tenants::Tenants(const config::Node& tenants, std::uint64_t seed) : rng_(seed, "workload.tenants") {
  std::vector<double> shares;
  if (tenants.has("shares")) {
    if (tenants.has("count")) tenants.fail_key("count", tenants.child("count").shown(), "either count or shares, not both");
    const auto items = tenants.child("shares").items();
    if (items.empty() || items.size() > 100000)
      tenants.fail_key("shares", tenants.child("shares").shown(), "a list of 1 to 100000 shares");
    for (const auto& item : items) {
      double share = 0;
      if (!item.is_scalar() || !config::detail::convert(item.scalar(), share) || !(share >= 0 && share <= 1e12))
        item.fail(fmt::format("tenant share {}: expected a number from 0 to 1e12", item.shown()));
      shares.push_back(share);
    }
  } else {
    shares.assign(static_cast<std::size_t>(tenants.get<int>("count").required().in_range(1, 100000).value()), 1.0);
  }
  double total = 0;
  for (double s : shares) total += s;
  if (!(total > 0)) tenants.fail_key("shares", tenants.child("shares").shown(), "at least one share above 0");
  double sum = 0;
  for (double s : shares) cumulative_.push_back((sum += s) / total);
  cumulative_.back() = 1.0;
  priority_.assign(shares.size(), 0);
  if (tenants.has("priority")) {
    const auto items = tenants.child("priority").items();
    if (items.size() != shares.size())
      tenants.fail_key("priority", tenants.child("priority").shown(),
                       fmt::format("one priority per tenant ({} tenants)", shares.size()));
    for (std::size_t k = 0; k < items.size(); ++k) {
      int p = 0;
      if (!items[k].is_scalar() || !config::detail::convert(items[k].scalar(), p) || p < -1000000 || p > 1000000)
        items[k].fail(fmt::format("tenant priority {}: expected a whole number from -1000000 to 1000000", items[k].shown()));
      priority_[k] = p;
    }
  }
}

void Tenants::assign(Request& r) {
  const double u = rng_.uniform();
  const auto k = static_cast<std::size_t>(std::upper_bound(cumulative_.begin(), cumulative_.end(), u) - cumulative_.begin());
  r.tenant = static_cast<std::int32_t>(std::min(k, cumulative_.size() - 1));
  r.priority = priority_[static_cast<std::size_t>(r.tenant)];
}

std::string Tenants::describe() const {
  const bool prioritised = std::any_of(priority_.begin(), priority_.end(), [&](int p) { return p != priority_.front(); });
  return fmt::format("{} tenants{}", count(), prioritised ? " with priorities" : "");
}

namespace {
class TenantArrivals final : public Arrivals {
 public:
  TenantArrivals(std::unique_ptr<Arrivals> inner, Tenants tenants) : inner_(std::move(inner)), tenants_(std::move(tenants)) {}
  std::optional<double> next_time() const override { return inner_->next_time(); }
  Issue pop() override {
    Issue issue = inner_->pop();
    tenants_.assign(issue.request);
    return issue;
  }
  void on_end(std::int64_t id, double now) override { inner_->on_end(id, now); }
  bool reacts_to_ends() const override { return inner_->reacts_to_ends(); }
  bool done() const override { return inner_->done(); }
  int clients() const override { return inner_->clients(); }
  bool sessions() const override { return inner_->sessions(); }
  bool tenants() const override { return true; }
  std::string describe() const override { return fmt::format("{}; {}", inner_->describe(), tenants_.describe()); }

 private:
  std::unique_ptr<Arrivals> inner_;
  Tenants tenants_;
};
}  // namespace

std::unique_ptr<Arrivals> with_tenants(std::unique_ptr<Arrivals> inner, Tenants tenants) {
  return std::make_unique<TenantArrivals>(std::move(inner), std::move(tenants));
}

}  // namespace hetsim::workload
