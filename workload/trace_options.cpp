#include "workload/trace_options.hpp"

#include "workload/arrivals.hpp"

namespace hetsim::workload {

namespace {
/// TraceOptions over a reader's rows, one request at a time.
class TraceOptionsStream final : public RequestStream {
 public:
  TraceOptionsStream(std::unique_ptr<RequestStream> rows, TraceOptions options) : rows_(std::move(rows)), options_(options) {}

  std::optional<Request> next() override {
    if (options_.limit > 0 && count_ >= options_.limit) {
      // Past the limit, the remaining rows are still read (and dropped): a malformed row anywhere
      // in the file fails the workload, with or without a limit, as when the trace was read whole.
      while (rows_->next()) {
      }
      return std::nullopt;
    }
    auto r = rows_->next();
    if (!r) return std::nullopt;
    if (count_ == 0) t0_ = r->arrival;
    r->arrival = (r->arrival - t0_) / options_.rate_scale;
    r->id = count_++;
    return r;
  }

 private:
  std::unique_ptr<RequestStream> rows_;
  TraceOptions options_;
  double t0_ = 0;  ///< the first row's arrival: the replay starts at 0
  std::int64_t count_ = 0;
};
}  // namespace

TraceOptions TraceOptions::parse(const config::Node& node) {
  TraceOptions o;
  if (is_closed_loop(node)) {
    // Closed-loop clients replay the trace's lengths in order and ignore its timestamps.
    if (node.has("rate_scale"))
      node.fail_key("rate_scale", node.child("rate_scale").shown(),
                    "closed-loop clients (workload.concurrency) ignore the trace's timestamps; remove rate_scale");
    o.limit = node.get<std::int64_t>("limit").default_to(0).at_least(0);
    return o;
  }
  o.rate_scale = node.get<double>("rate_scale").default_to(1.0).in_range(1e-6, 1e6);
  o.limit = node.get<std::int64_t>("limit").default_to(0).at_least(0);
  return o;
}

std::unique_ptr<RequestStream> TraceOptions::apply(std::unique_ptr<RequestStream> rows) const {
  return std::make_unique<TraceOptionsStream>(std::move(rows), *this);
}

}  // namespace hetsim::workload
