#include "workload/popularity.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace hetsim::workload {

Popularity Popularity::parse(const config::Node& cfg, std::int64_t items) {
  const std::string popularity = cfg.get<std::string>("popularity").default_to("uniform").one_of({"uniform", "zipf"});
  const double s = popularity == "zipf" ? cfg.get<double>("zipf_s").default_to(1.0).in_range(0.0, 10.0).value() : 0.0;
  if (popularity != "zipf" && cfg.has("zipf_s"))
    cfg.fail_key("zipf_s", cfg.child("zipf_s").shown(), "applies to popularity: zipf only");
  Popularity p;
  p.cdf_.reserve(static_cast<std::size_t>(items));
  double sum = 0;
  for (std::int64_t k = 0; k < items; ++k) p.cdf_.push_back(sum += std::pow(static_cast<double>(k + 1), -s));
  for (double& c : p.cdf_) c /= sum;
  return p;
}

std::int64_t Popularity::pick(double u) const {
  const auto k = static_cast<std::int64_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  return std::min<std::int64_t>(k, static_cast<std::int64_t>(cdf_.size()) - 1);
}

}  // namespace hetsim::workload
