// Synthetic workload: prompt and output lengths drawn from independent distributions and, in an
// open loop, Poisson or gamma arrivals (burstiness set by the coefficient of variation of
// inter-arrival times, CV = 1 being Poisson). Each of the three draws has its own random stream, so
// a closed loop (workload.concurrency) gets the same lengths as the open loop with the same seed.
// workload.shared_prefix puts shared prefixes before the prompts (workload/shared_prefix.hpp);
// workload.rag puts retrieved document chunks there (workload/rag_chunks.hpp).
#include <cmath>
#include <memory>
#include <optional>
#include <string>

#include "sim/core/registry.hpp"
#include "sim/core/rng.hpp"
#include "workload/arrival_process.hpp"
#include "workload/arrivals.hpp"
#include "workload/length_distribution.hpp"
#include "workload/rag_chunks.hpp"
#include "workload/shared_prefix.hpp"
#include "workload/workload_source.hpp"

namespace hetsim::workload {
namespace {

/// What the workload section asks for; shared by the source and the streams it opens.
struct SyntheticSpec {
  LengthDistribution prompt, output;
  ArrivalProcess arrival;
  double duration = 0;
  std::int64_t num_requests = 0;
  bool closed_loop = false;  ///< lengths only: arrival times come from the simulation
  std::optional<SharedPrefixes> prefixes;  ///< workload.shared_prefix
  std::optional<RagChunks> rag;            ///< workload.rag
};

/// Draws each request when it is asked for, from the three streams in the order a whole-pool
/// generator would: the same seed gives the same requests however they are read.
class SyntheticStream final : public RequestStream {
 public:
  SyntheticStream(std::shared_ptr<const SyntheticSpec> spec, std::uint64_t seed)
      : spec_(std::move(spec)),
        arrivals_(seed, "workload.arrivals"),
        prompts_(seed, "workload.prompt_tokens"),
        outputs_(seed, "workload.output_tokens"),
        prefix_rng_(seed, "workload.shared_prefix"),
        rag_rng_(seed, "workload.rag") {
    if (spec_->prefixes) drawn_ = spec_->prefixes->draw(seed);
  }

  std::optional<Request> next() override {
    if (done_) return std::nullopt;
    const SyntheticSpec& s = *spec_;
    if (!s.closed_loop) {
      u_ += s.arrival.gap(arrivals_);
      t_ = s.arrival.real_time(u_);
    }
    if ((s.num_requests > 0 && count_ >= s.num_requests) || (s.duration > 0 && t_ > s.duration)) {
      done_ = true;
      return std::nullopt;
    }
    Request r;
    r.id = count_++;
    r.arrival = t_;
    r.prompt_tokens = s.prompt.sample(prompts_);
    r.output_tokens = s.output.sample(outputs_);
    if (s.prefixes) s.prefixes->apply(r, prefix_rng_, drawn_);
    if (s.rag) s.rag->apply(r, rag_rng_);
    return r;
  }

 private:
  std::shared_ptr<const SyntheticSpec> spec_;
  Rng arrivals_, prompts_, outputs_, prefix_rng_, rag_rng_;
  SharedPrefixes::Drawn drawn_;
  double t_ = 0;
  double u_ = 0;  ///< operational time of the arrival process (t_ = real_time(u_))
  std::int64_t count_ = 0;
  bool done_ = false;
};

class SyntheticSource final : public WorkloadSource {
 public:
  explicit SyntheticSource(const config::Node& cfg) {
    auto spec = std::make_shared<SyntheticSpec>(SyntheticSpec{.prompt = LengthDistribution::parse(cfg.child("prompt_tokens")),
                                                              .output = LengthDistribution::parse(cfg.child("output_tokens"))});
    spec_ = spec;
    spec->prefixes = SharedPrefixes::parse(cfg);
    spec->rag = RagChunks::parse(cfg);
    if (is_closed_loop(cfg)) {
      // Closed-loop clients send a request when an earlier one ends: there is no arrival process,
      // and the pool size bounds the run.
      for (const char* key : {"arrival", "duration"})
        if (cfg.has(key))
          cfg.fail_key(key, cfg.child(key).shown(),
                       "closed-loop clients (workload.concurrency) send requests as earlier ones end; give "
                       "num_requests and no arrival process or duration");
      spec->closed_loop = true;
      spec->num_requests = cfg.get<std::int64_t>("num_requests").in_range(1, 1LL << 32);
      return;
    }
    spec->arrival = ArrivalProcess::parse(cfg.child("arrival"));
    const bool by_count = cfg.has("num_requests");
    if (by_count) spec->num_requests = cfg.get<std::int64_t>("num_requests").in_range(1, 1LL << 32);
    if (cfg.has("duration")) spec->duration = cfg.quantity("duration", units::Dim::time).positive();
    if (!by_count && spec->duration <= 0) cfg.fail("expected 'num_requests' or 'duration' (e.g. \"60 s\")");
  }

  std::unique_ptr<RequestStream> open(std::uint64_t seed) const override { return std::make_unique<SyntheticStream>(spec_, seed); }

 private:
  std::shared_ptr<const SyntheticSpec> spec_;
};

}  // namespace
HETSIM_REGISTER(WorkloadSource, SyntheticSource, "synthetic",
                "poisson | gamma arrivals (or closed-loop clients), prompt/output lengths fixed, uniform, lognormal or empirical");
}  // namespace hetsim::workload
