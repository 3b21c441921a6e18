// Multi-turn conversations: the sessions source and its arrival policy (see sessions.hpp).
#include "workload/sessions.hpp"

#include <fmt/format.h>

#include <cmath>
#include <memory>

#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"
#include "sim/core/rng.hpp"
#include "sim/core/units.hpp"
#include "workload/arrival_process.hpp"
#include "workload/length_distribution.hpp"
#include "workload/think_time.hpp"
#include "workload/workload_source.hpp"

namespace hetsim::workload {
namespace {

/// Tokens one content id describes in a session's stream.
constexpr std::int32_t kIdTokens = 64;
/// Bounds that keep a run's workload finite: turns per session, and tokens a conversation may
/// reach (2^20, beyond any catalog model's context; longer turns would be rejected anyway).
constexpr std::int64_t kMaxTurns = 1000;
constexpr std::int64_t kMaxConversationTokens = std::int64_t{1} << 20;

struct SessionSpec {
  std::int64_t sessions = 0;
  double duration = 0;  ///< or: sessions start until this time
  ArrivalProcess arrival;
  LengthDistribution turns, new_tokens, output_tokens;
  ThinkTime think;
  std::int64_t system_prompt = 0;
};

/// The turns of session after session; each draw has its own random stream.
class SessionStream final : public RequestStream {
 public:
  SessionStream(std::shared_ptr<const SessionSpec> spec, std::uint64_t seed)
      : spec_(std::move(spec)),
        starts_(seed, "workload.sessions.arrivals"),
        turns_(seed, "workload.sessions.turns"),
        lengths_(seed, "workload.sessions.lengths"),
        think_(seed, "workload.think_time") {}

  std::optional<Request> next() override {
    if (turn_ == turn_count_) {
      // The next session.
      const SessionSpec& s = *spec_;
      if (s.sessions > 0 && session_ + 1 >= s.sessions) return std::nullopt;
      const double u = u_ + s.arrival.gap(starts_);
      const double start = s.arrival.real_time(u);
      if (s.duration > 0 && start > s.duration) return std::nullopt;
      ++session_;
      u_ = u;
      start_ = start;
      turn_ = 0;
      turn_count_ = std::max<std::int64_t>(1, s.turns.sample(turns_));
      if (turn_count_ > kMaxTurns)
        throw InputError(fmt::format("workload.turns: a session of {} turns; expected at most {}", turn_count_, kMaxTurns));
      history_ = s.system_prompt;
    }
    const SessionSpec& s = *spec_;
    Request r;
    r.id = count_++;
    r.arrival = start_;  // the first turn's; later turns go out as earlier ones end
    r.session = session_;
    r.turn = static_cast<std::int32_t>(turn_);
    r.think = turn_ == 0 ? 0.0 : s.think.sample(think_);
    const std::int64_t fresh = s.new_tokens.sample(lengths_);
    r.prompt_tokens = history_ + fresh;
    r.output_tokens = s.output_tokens.sample(lengths_);
    // Ids name the session's stream position by position (the system prompt is everyone's), and
    // they run on over the output: the next turn's prompt holds it.
    const std::int64_t described = r.prompt_tokens + r.output_tokens;
    if (described > kMaxConversationTokens)
      throw InputError(fmt::format("workload: a conversation reached {} tokens (system_prompt, new_tokens and output_tokens "
                                   "over its turns); expected at most {}",
                                   described, kMaxConversationTokens));
    r.hash_block_tokens = kIdTokens;
    r.hash_tokens = described;
    const std::int64_t ids = (described + kIdTokens - 1) / kIdTokens;
    const std::int64_t shared = s.system_prompt / kIdTokens;  // whole units of the system prompt
    r.hash_ids.resize(static_cast<std::size_t>(ids));
    for (std::int64_t u = 0; u < ids; ++u)
      r.hash_ids[static_cast<std::size_t>(u)] =
          u < shared ? static_cast<std::uint64_t>(u) : (static_cast<std::uint64_t>(session_ + 1) << 32) | static_cast<std::uint64_t>(u);
    history_ = described;
    ++turn_;
    return r;
  }

 private:
  std::shared_ptr<const SessionSpec> spec_;
  Rng starts_, turns_, lengths_, think_;
  double start_ = 0;
  double u_ = 0;  ///< operational time of the session arrival process (start_ = real_time(u_))
  std::int64_t session_ = -1, turn_ = 0, turn_count_ = 0, history_ = 0, count_ = 0;
};

class SessionSource final : public WorkloadSource {
 public:
  explicit SessionSource(const config::Node& cfg) {
    auto spec = std::make_shared<SessionSpec>(SessionSpec{.turns = LengthDistribution::parse(cfg.child("turns")),
                                                          .new_tokens = LengthDistribution::parse(cfg.child("new_tokens")),
                                                          .output_tokens = LengthDistribution::parse(cfg.child("output_tokens")),
                                                          .think = ThinkTime::parse(cfg)});
    const bool by_count = cfg.has("sessions");
    if (by_count) spec->sessions = cfg.get<std::int64_t>("sessions").in_range(1, 1LL << 32);
    if (cfg.has("duration")) spec->duration = cfg.quantity("duration", units::Dim::time).positive();
    if (!by_count && spec->duration <= 0) cfg.fail("expected 'sessions' (a count) or 'duration' (when the last may start)");
    spec->arrival = ArrivalProcess::parse(cfg.child("arrival"));
    spec->system_prompt = cfg.get<std::int64_t>("system_prompt").default_to(0).in_range(0, 1 << 24);
    spec_ = spec;
  }
  std::unique_ptr<RequestStream> open(std::uint64_t seed) const override { return std::make_unique<SessionStream>(spec_, seed); }

 private:
  std::shared_ptr<const SessionSpec> spec_;
};

}  // namespace

SessionArrivals::SessionArrivals(std::unique_ptr<RequestStream> pool, const WorkloadTotals& totals)
    : pool_(std::move(pool)), totals_(totals), peek_(pool_->next()) {
  read_session();
}

void SessionArrivals::read_session() {
  ahead_.clear();
  if (!peek_) return;
  if (peek_->turn != 0) throw InvariantError(fmt::format("sessions: session {} starts at turn {}", peek_->session, peek_->turn));
  const std::int64_t session = peek_->session;
  for (; peek_ && peek_->session == session; peek_ = pool_->next()) ahead_.push_back(std::move(*peek_));
}

std::optional<double> SessionArrivals::next_time() const {
  std::optional<double> t;
  if (!ahead_.empty()) t = ahead_.front().arrival;
  if (!due_.empty() && (!t || due_.top().time < *t)) t = due_.top().time;
  return t;
}

Issue SessionArrivals::pop() {
  // A later turn due at a session's start goes first: it was scheduled before that start was read.
  if (!due_.empty() && (ahead_.empty() || due_.top().time <= ahead_.front().arrival)) {
    const Due d = due_.top();
    due_.pop();
    return issue(d.session, d.time);
  }
  if (ahead_.empty()) throw InvariantError("sessions: issuing with nothing due");
  const std::int64_t session = ahead_.front().session;
  const double start = ahead_.front().arrival;
  remaining_.emplace(session, std::move(ahead_));
  read_session();
  return issue(session, start);
}

Issue SessionArrivals::issue(std::int64_t session, double time) {
  auto it = remaining_.find(session);
  if (it == remaining_.end() || it->second.empty()) throw InvariantError(fmt::format("sessions: session {} has no turn left", session));
  Issue i{.request = std::move(it->second.front()), .time = time};
  it->second.pop_front();
  i.request.id = issued_++;
  i.request.arrival = time;
  if (i.request.turn > 0) i.think = i.request.think;
  if (it->second.empty()) remaining_.erase(it);
  else in_flight_.emplace(i.request.id, session);
  return i;
}

void SessionArrivals::on_end(std::int64_t id, double now) {
  const auto it = in_flight_.find(id);
  if (it == in_flight_.end()) return;  // a session's last turn
  const std::int64_t session = it->second;
  in_flight_.erase(it);
  due_.push({now + remaining_.at(session).front().think, order_++, session});
}

std::string SessionArrivals::describe() const {
  return fmt::format("{} turns of multi-turn sessions, each sent its think time after the previous one ended",
                     totals_.requests);
}

}  // namespace hetsim::workload

namespace hetsim::workload {
HETSIM_REGISTER(WorkloadSource, SessionSource, "sessions",
                "multi-turn conversations: sessions by poisson | gamma arrivals, turns, new_tokens, output_tokens, "
                "think_time, system_prompt; each turn's prompt is the conversation so far");
}  // namespace hetsim::workload
