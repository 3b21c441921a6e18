#include "workload/length_distribution.hpp"

#include <algorithm>
#include <cmath>

#include "sim/core/io/csv.hpp"

namespace hetsim::workload {

LengthDistribution LengthDistribution::parse(const config::Node& node) {
  LengthDistribution d;
  constexpr std::int64_t kMax = 1LL << 31;
  if (node.is_scalar()) {
    std::int64_t v = 0;
    if (!config::detail::convert(node.scalar(), v) || v < 1)
      node.fail(fmt::format("\"{}\": expected a token count >= 1 or a map with 'dist'", node.scalar()));
    d.value_ = v;
    return d;
  }
  const std::string dist = node.get<std::string>("dist").one_of({"fixed", "uniform", "lognormal", "empirical"});
  if (dist == "fixed") {
    d.value_ = node.get<std::int64_t>("value").in_range(1, kMax);
  } else if (dist == "uniform") {
    d.kind_ = Kind::uniform;
    d.min_ = node.get<std::int64_t>("min").in_range(1, kMax);
    d.max_ = node.get<std::int64_t>("max").in_range(d.min_, kMax);
  } else if (dist == "lognormal") {
    d.kind_ = Kind::lognormal;
    d.median_ = node.get<double>("median").in_range(1.0, 1e9);
    d.sigma_ = node.get<double>("sigma").in_range(0.0, 10.0);
    d.min_ = node.get<std::int64_t>("min").default_to(1).in_range(1, kMax);
    d.max_ = node.get<std::int64_t>("max").default_to(kMax).in_range(d.min_, kMax);
  } else {
    d.kind_ = Kind::empirical;
    CsvReader csv(node.file_path("file"));
    const auto col = csv.column(node.get<std::string>("column").required());
    while (csv.next()) d.samples_.push_back(csv.positive_int(col));
    if (d.samples_.empty()) node.fail_key("file", "(no rows)", "expected at least one data row");
  }
  return d;
}

std::int64_t LengthDistribution::sample(Rng& rng) const {
  switch (kind_) {
    case Kind::fixed: return value_;
    case Kind::uniform: return rng.uniform_int(min_, max_);
    case Kind::lognormal: {
      const double x = std::round(median_ * std::exp(sigma_ * rng.normal()));
      return std::clamp(static_cast<std::int64_t>(std::min(x, 9e18)), min_, max_);
    }
    case Kind::empirical:
      return samples_[static_cast<std::size_t>(rng.uniform_int(0, static_cast<std::int64_t>(samples_.size()) - 1))];
  }
  return value_;
}

}  // namespace hetsim::workload
