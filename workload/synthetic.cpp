// Synthetic workload: prompt and output lengths drawn from independent distributions and, in an
// open loop, Poisson or gamma arrivals (burstiness set by the coefficient of variation of
// inter-arrival times, CV = 1 being Poisson). Each of the three draws has its own random stream, so
// a closed loop (workload.concurrency) gets the same lengths as the open loop with the same seed.
#include <cmath>

#include "sim/core/registry.hpp"
#include "sim/core/rng.hpp"
#include "workload/arrivals.hpp"
#include "workload/length_distribution.hpp"
#include "workload/workload_source.hpp"

namespace hetsim::workload {
namespace {

class SyntheticSource final : public WorkloadSource {
 public:
  explicit SyntheticSource(const config::Node& cfg)
      : prompt_(LengthDistribution::parse(cfg.child("prompt_tokens"))),
        output_(LengthDistribution::parse(cfg.child("output_tokens"))) {
    if (is_closed_loop(cfg)) {
      // Closed-loop clients send a request when an earlier one ends: there is no arrival process,
      // and the pool size bounds the run.
      for (const char* key : {"arrival", "duration"})
        if (cfg.has(key))
          cfg.fail_key(key, cfg.child(key).shown(),
                       "closed-loop clients (workload.concurrency) send requests as earlier ones end; give "
                       "num_requests and no arrival process or duration");
      closed_loop_ = true;
      num_requests_ = cfg.get<std::int64_t>("num_requests").in_range(1, 1LL << 32);
      return;
    }
    const auto arrival = cfg.child("arrival");
    process_ = arrival.get<std::string>("process").default_to("poisson").one_of({"poisson", "gamma"});
    rate_ = arrival.get<double>("rate").in_range(1e-9, 1e9);
    cv_ = process_ == "gamma" ? arrival.get<double>("cv").default_to(1.0).in_range(0.01, 100.0).value() : 1.0;
    const bool by_count = cfg.has("num_requests");
    if (by_count) num_requests_ = cfg.get<std::int64_t>("num_requests").in_range(1, 1LL << 32);
    if (cfg.has("duration")) duration_ = cfg.quantity("duration", units::Dim::time).positive();
    if (!by_count && duration_ <= 0) cfg.fail("expected 'num_requests' or 'duration' (e.g. \"60 s\")");
  }

  std::vector<Request> generate(std::uint64_t seed) override {
    Rng arrivals(seed, "workload.arrivals"), prompts(seed, "workload.prompt_tokens"), outputs(seed, "workload.output_tokens");
    std::vector<Request> out;
    double t = 0;
    const double shape = 1.0 / (cv_ * cv_);
    while (true) {
      if (!closed_loop_) {
        const double gap = process_ == "poisson" ? arrivals.exponential(rate_) : arrivals.gamma(shape, 1.0 / (rate_ * shape));
        t += gap;
      }
      if (num_requests_ > 0 && static_cast<std::int64_t>(out.size()) >= num_requests_) break;
      if (duration_ > 0 && t > duration_) break;
      Request r;
      r.id = static_cast<std::int64_t>(out.size());
      r.arrival = t;
      r.prompt_tokens = prompt_.sample(prompts);
      r.output_tokens = output_.sample(outputs);
      out.push_back(std::move(r));
    }
    return out;
  }

 private:
  LengthDistribution prompt_, output_;
  std::string process_;
  double rate_ = 1, cv_ = 1, duration_ = 0;
  std::int64_t num_requests_ = 0;
  bool closed_loop_ = false;  ///< lengths only: arrival times come from the simulation
};

}  // namespace
HETSIM_REGISTER(WorkloadSource, SyntheticSource, "synthetic",
                "poisson | gamma arrivals (or closed-loop clients), prompt/output lengths fixed, uniform, lognormal or empirical");
}  // namespace hetsim::workload
