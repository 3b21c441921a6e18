#include "sim/training/resilience.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <queue>

#include "sim/core/error.hpp"

namespace hetsim::training {
namespace {

/// A run that has not finished after this many times its failure-free length is reported as not
/// finishing (failures faster than it can checkpoint) instead of being followed forever.
constexpr double kWallCapFactor = 1000;
/// Likewise a trial with more failures than this (a month on 16,384 GPUs at Llama 3's rate has 240).
constexpr int kMaxFailures = 1000000;

class Trial {
 public:
  Trial(const ResilienceInputs& in, FailureProcess& process, bool keep_events)
      : in_(in), process_(process), keep_(keep_events) {
    out_.cause_seconds.assign(process.causes().size(), 0.0);
    fail_ = process_.next();
    spares_ = in.recovery.spare_nodes;
  }

  ResilienceTrial run() {
    while (progress_ < in_.iterations && out_.finished) {
      if (t_ > cap_ || out_.failures > kMaxFailures) {
        out_.finished = false;
        break;
      }
      if (just_saved_) fast_forward();
      just_saved_ = false;
      if (progress_ >= in_.iterations) break;
      // Compute up to the next checkpoint (iterations counted from 0, whatever was restored).
      const std::int64_t next = std::min(in_.iterations, (progress_ / in_.interval + 1) * in_.interval);
      const double end = t_ + static_cast<double>(next - progress_) * in_.iteration;
      if (interrupted_before(end)) {
        const double f = fail_->time;
        out_.lost += f - t_;  // the partial segment is lost whatever it held
        fail(f, f - t_);
        continue;
      }
      computed_ += end - t_;
      t_ = end;
      progress_ = next;
      if (progress_ == in_.iterations) break;  // done: the last checkpoint is not waited for
      // Checkpoint: the snapshot waits for the previous persist (one in flight at a time).
      const double stall_end = std::max(t_, persist_end_) + in_.stall;
      if (interrupted_before(stall_end)) {
        out_.checkpoint += fail_->time - t_;
        fail(fail_->time, 0);
        continue;
      }
      out_.checkpoint += stall_end - t_;
      t_ = stall_end;
      ++out_.checkpoints;
      commit();  // the previous checkpoint persisted before this snapshot began
      persist_end_ = t_ + in_.persist;
      pending_ = progress_;
      if (in_.persist <= 0) commit();
      just_saved_ = true;
    }
    out_.wall = t_;
    out_.useful = static_cast<double>(progress_) * in_.iteration;
    // Compute that was rolled back: what ran minus what counts (the partial segments are in lost already).
    out_.lost += computed_ - out_.useful;
    return std::move(out_);
  }

 private:
  /// Right after a checkpoint's stall every segment until the next failure is alike: n iterations,
  /// a wait for the persist if it outlasts them, the stall; jumps over those that end before the
  /// next failure (and before the last segment) at once. A run of a million 10 s iterations
  /// checkpointed every iteration is then as cheap as its failures.
  void fast_forward() {
    const std::int64_t n = in_.interval;
    const double work = static_cast<double>(n) * in_.iteration;
    const double segment = std::max(work, in_.persist) + in_.stall;
    std::int64_t k = (in_.iterations - 1) / n - progress_ / n;  // segments left that end with a checkpoint
    if (fail_) k = std::min(k, static_cast<std::int64_t>(std::floor((fail_->time - t_) / segment)));
    if (k < 1) return;
    const double kd = static_cast<double>(k);
    t_ += kd * segment;
    progress_ += k * n;
    computed_ += kd * work;
    out_.checkpoint += kd * (segment - work);
    out_.checkpoints += k;
    committed_ = progress_ - n;  // each snapshot waited for the persist before it
    pending_ = progress_;
    persist_end_ = t_ + in_.persist;
    if (in_.persist <= 0) commit();
  }

  bool interrupted_before(double end) const { return fail_ && fail_->time < end; }
  void commit() {
    if (pending_) committed_ = *pending_;
    pending_.reset();
  }
  void next_failure() { fail_ = process_.next(); }

  /// A failure at `f` (now, or a moment the job was computing towards) with `partial` seconds of an
  /// unfinished segment lost; then recovery until the job computes again.
  void fail(double f, double partial) {
    if (pending_ && persist_end_ <= f) commit();
    pending_.reset();  // a persist in flight is lost with the job
    persist_end_ = f;
    FailureEvent ev{f, fail_->cause, static_cast<double>(progress_ - committed_) * in_.iteration + partial, 0, committed_};
    progress_ = committed_;
    t_ = f;
    ++out_.failures;
    int cause = fail_->cause;
    next_failure();
    // Recovery, phase by phase; a failure during it starts it over (attributed to the new cause).
    while (true) {
      out_.cause_seconds[static_cast<std::size_t>(ev.cause)] += ev.lost;
      const bool replaces = process_.causes()[static_cast<std::size_t>(cause)].replaces_node;
      const double start = t_;
      if (recover(replaces)) {
        out_.cause_seconds[static_cast<std::size_t>(cause)] += t_ - start;
        ev.downtime = t_ - ev.time;
        if (keep_) out_.events.push_back(ev);
        return;
      }
      // Interrupted at fail_->time: the time so far goes to the first cause, the rest to the new one.
      out_.cause_seconds[static_cast<std::size_t>(cause)] += t_ - start;
      ev.downtime = t_ - ev.time;
      if (keep_) out_.events.push_back(ev);
      if (t_ > cap_ || out_.failures > kMaxFailures) {  // failures faster than recovery: it never computes again
        out_.finished = false;
        return;
      }
      ev = FailureEvent{t_, fail_->cause, 0, 0, committed_};
      cause = fail_->cause;
      ++out_.failures;
      next_failure();
    }
  }

  /// Runs the recovery phases from t_; false if a failure interrupts one (t_ is then that failure's time).
  bool recover(bool replaces_node) {
    const RecoveryCosts& r = in_.recovery;
    // The node taken out is repaired meanwhile and then joins the spare pool.
    if (replaces_node && spares_ >= 0) returns_.push(t_ + r.repair);
    if (!phase(r.detection, out_.detection)) return false;
    if (replaces_node && spares_ >= 0) {
      while (!returns_.empty() && returns_.top() <= t_) {
        returns_.pop();
        ++spares_;
      }
      if (spares_ == 0) {  // wait for the first node back from repair (this one's, at the latest)
        if (!phase(returns_.top() - t_, out_.waiting)) return false;
        returns_.pop();
        ++spares_;
      }
      --spares_;
    }
    return phase(r.restart, out_.restart) && phase(r.reload, out_.reload);
  }
  /// `seconds` into `bucket`, unless a failure comes first.
  bool phase(double seconds, double& bucket) {
    const double end = t_ + seconds;
    if (interrupted_before(end)) {
      bucket += fail_->time - t_;
      t_ = fail_->time;
      return false;
    }
    bucket += seconds;
    t_ = end;
    return true;
  }

  const ResilienceInputs& in_;
  FailureProcess& process_;
  bool keep_;
  const double cap_ = kWallCapFactor * (static_cast<double>(in_.iterations) * in_.iteration + in_.stall);
  ResilienceTrial out_;
  std::optional<Failure> fail_;
  double t_ = 0, computed_ = 0, persist_end_ = 0;
  std::int64_t progress_ = 0, committed_ = 0;
  std::optional<std::int64_t> pending_;
  bool just_saved_ = false;  ///< the last step was a checkpoint's stall
  int spares_ = -1;
  std::priority_queue<double, std::vector<double>, std::greater<>> returns_;
};

void add_scaled(ResilienceTrial& into, const ResilienceTrial& t, double w) {
  into.wall += t.wall * w;
  into.useful += t.useful * w;
  into.lost += t.lost * w;
  into.checkpoint += t.checkpoint * w;
  into.detection += t.detection * w;
  into.waiting += t.waiting * w;
  into.restart += t.restart * w;
  into.reload += t.reload * w;
  into.cause_seconds.resize(t.cause_seconds.size());
  for (std::size_t c = 0; c < t.cause_seconds.size(); ++c) into.cause_seconds[c] += t.cause_seconds[c] * w;
}

}  // namespace

ResilienceTrial simulate_resilience(const ResilienceInputs& in, FailureProcess& process, Rng rng, bool keep_events) {
  if (!(in.iteration > 0) || in.iterations < 1 || in.interval < 1)
    throw InvariantError("failure projection: expected an iteration time > 0, iterations >= 1 and an interval >= 1");
  process.start(in.gpus, rng);
  return Trial(in, process, keep_events).run();
}

double young_interval(double stall, double mtbf) { return std::sqrt(2.0 * stall * mtbf); }

std::int64_t young_iterations(double stall, double mtbf, double iteration) {
  return std::max<std::int64_t>(1, std::llround(young_interval(stall, mtbf) / iteration));
}

double daly_interval(double stall, double mtbf) {
  if (stall >= 2.0 * mtbf) return mtbf;
  const double x = stall / (2.0 * mtbf);
  return std::sqrt(2.0 * stall * mtbf) * (1.0 + std::sqrt(x) / 3.0 + x / 9.0) - stall;
}

double expected_wall_exponential(const ResilienceInputs& in, double rate) {
  const double R = in.recovery.detection + in.recovery.restart + in.recovery.reload;
  const auto segment = [&](double work) { return std::exp(rate * R) * std::expm1(rate * work) / rate; };
  const std::int64_t full = (in.iterations - 1) / in.interval;  // segments ending with a checkpoint
  const std::int64_t last = in.iterations - full * in.interval;
  return static_cast<double>(full) * segment(static_cast<double>(in.interval) * in.iteration + in.stall) +
         segment(static_cast<double>(last) * in.iteration);
}

Estimate estimate(const std::vector<double>& v) {
  Estimate e;
  if (v.empty()) return e;
  for (double x : v) e.mean += x;
  e.mean /= static_cast<double>(v.size());
  if (v.size() < 2) return e;
  double ss = 0;
  for (double x : v) ss += (x - e.mean) * (x - e.mean);
  e.half_width = 1.96 * std::sqrt(ss / static_cast<double>(v.size() - 1) / static_cast<double>(v.size()));
  return e;
}

ResilienceReport project_resilience(const ResilienceInputs& in, FailureProcess& process, std::uint64_t seed, int trials) {
  ResilienceReport rep;
  rep.inputs = in;
  rep.trials = trials;
  rep.causes = process.causes();
  rep.mtbf = process.mtbf(in.gpus);
  rep.young = young_interval(in.stall, rep.mtbf);
  rep.daly = daly_interval(in.stall, rep.mtbf);
  rep.young_iterations = young_iterations(in.stall, rep.mtbf, in.iteration);
  const auto run_trials = [&](std::int64_t interval, bool full) {
    ResilienceInputs at = in;
    at.interval = interval;
    std::vector<double> goodput, wall, failures;
    for (int i = 0; i < trials; ++i) {
      ResilienceTrial t = simulate_resilience(at, process, Rng(seed + static_cast<std::uint64_t>(i), "resilience"), full && i == 0);
      goodput.push_back(t.goodput());
      if (!full) continue;
      wall.push_back(t.wall);
      failures.push_back(t.failures);
      rep.all_finished = rep.all_finished && t.finished;
      add_scaled(rep.mean, t, 1.0 / trials);
      if (i == 0) rep.first = std::move(t);
    }
    if (full) {
      rep.goodput = estimate(goodput);
      rep.wall = estimate(wall);
      rep.failures = estimate(failures);
    }
    return estimate(goodput);
  };
  run_trials(in.interval, true);
  // The same trials (common random numbers) over intervals from a quarter to four times Young's.
  std::vector<std::int64_t> grid;
  for (int k = -8; k <= 8; ++k) {
    const auto n = std::max<std::int64_t>(1, std::llround(static_cast<double>(rep.young_iterations) * std::pow(2.0, k / 4.0)));
    if (grid.empty() || grid.back() != n) grid.push_back(n);
  }
  double best = -1;
  for (std::int64_t n : grid) {
    const Estimate g = run_trials(n, false);
    rep.sweep.push_back({n, g});
    if (g.mean > best) {
      best = g.mean;
      rep.best_interval = n;
    }
  }
  return rep;
}

}  // namespace hetsim::training
