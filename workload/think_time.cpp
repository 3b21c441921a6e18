#include "workload/think_time.hpp"

namespace hetsim::workload {

ThinkTime ThinkTime::parse(const config::Node& workload) {
  ThinkTime t;
  const auto given = workload.maybe("think_time");
  if (!given || given->is_scalar()) {
    t.a_ = workload.quantity("think_time", units::Dim::time).default_to("0 s").non_negative();
    return t;
  }
  const config::Node& node = *given;
  const std::string dist = node.get<std::string>("dist").one_of({"fixed", "exponential", "uniform"});
  if (dist == "fixed") {
    t.a_ = node.quantity("value", units::Dim::time).non_negative();
  } else if (dist == "exponential") {
    t.kind_ = Kind::exponential;
    t.a_ = node.quantity("mean", units::Dim::time).positive();
  } else {
    t.kind_ = Kind::uniform;
    t.a_ = node.quantity("min", units::Dim::time).non_negative();
    t.b_ = node.quantity("max", units::Dim::time).non_negative();
    if (t.b_ < t.a_)
      node.fail_key("max", units::format(t.b_, units::Dim::time),
                    fmt::format("expected at least min ({})", units::format(t.a_, units::Dim::time)));
  }
  return t;
}

double ThinkTime::sample(Rng& rng) const {
  switch (kind_) {
    case Kind::fixed: return a_;
    case Kind::exponential: return rng.exponential(1.0 / a_);
    case Kind::uniform: return a_ + (b_ - a_) * rng.uniform();
  }
  return a_;
}

double ThinkTime::mean() const { return kind_ == Kind::uniform ? 0.5 * (a_ + b_) : a_; }

}  // namespace hetsim::workload
