// Sequences and their KV crossing between instances over the platform network: P/D hand-offs
// (move_sequence) and live migration (migrate), with TP re-sharding (kv_flows).
#include <fmt/format.h>

#include <algorithm>

#include "sim/engine/serving_run.hpp"

namespace hetsim::sim::detail {

std::vector<ServingRun::KvFlow> ServingRun::kv_flows(const ReplicaPlan& a, const ReplicaPlan& b, std::int64_t tokens) const {
  if (a.device_tiers.empty() || b.device_tiers.empty())
    throw InputError("moving KV between instances needs their nodes (give cluster.node)");
  // Re-sharding from a's TP ranks to b's: destination rank r holds KV heads [r/B, (r+1)/B) of the
  // whole, source rank s holds [s/A, (s+1)/A); each pair that overlaps sends that share. Equal
  // degrees pair rank with rank.
  std::vector<KvFlow> flows;
  const std::size_t A = a.device_tiers.size(), B = b.device_tiers.size();
  const double total = static_cast<double>(tokens) * b.kv_bytes_per_token * static_cast<double>(B);
  for (std::size_t r = 0; r < B; ++r)
    for (std::size_t s = r * A / B; s < A && s * B < (r + 1) * A; ++s) {
      // Overlap of [r/B, (r+1)/B) and [s/A, (s+1)/A), in units of 1/(A B).
      const std::size_t lo = std::max(r * A, s * B), hi = std::min((r + 1) * A, (s + 1) * B);
      if (hi > lo) flows.push_back({s, r, total * static_cast<double>(hi - lo) / static_cast<double>(A * B)});
    }
  return flows;
}

void ServingRun::send(const ReplicaPlan& a, const ReplicaPlan& b, const std::vector<KvFlow>& flows, double setup) {
  std::vector<TransferNetwork::Transfer> inflight;
  for (const KvFlow& f : flows)
    if (f.bytes > 0) inflight.push_back(network_->start(a.device_tiers[f.src], b.device_tiers[f.dst], f.bytes, 1 << 20, setup));
  for (auto& t : inflight) t.wait();
}

void ServingRun::move_sequence(policies::Sequence& seq, std::size_t from, std::size_t to, MoveOptions options,
                               std::function<void()> done) {
  Replica& src = *replicas_.at(from);
  Replica& dst = *replicas_.at(to);
  const ReplicaPlan& a = src.plan();
  const ReplicaPlan& b = dst.plan();
  // Workers on the same devices (semi-PD) share one KV memory: the decode worker reads the KV
  // where the prefill wrote it, and nothing crosses a link.
  const bool same_devices = a.partner == static_cast<int>(to);
  std::vector<KvFlow> flows = same_devices ? std::vector<KvFlow>{} : kv_flows(a, b, seq.computed);
  // Streamed layer by layer under the prefill: what the idle route carried meanwhile is already
  // there, except the last layer's share, which exists only when the prefill ends.
  const double layers = static_cast<double>(std::max<std::int64_t>(1, sc_.model.num_hidden_layers));
  if (options.streamed_window > 0)
    for (KvFlow& f : flows) {
      const double idle = network_->router().idle_transfer_time(a.device_tiers[f.src], b.device_tiers[f.dst], f.bytes, 1 << 20);
      const double carried = idle > 0 ? f.bytes / idle * options.streamed_window * (layers - 1) / layers : f.bytes;
      f.bytes = std::max(f.bytes / layers, f.bytes - carried);
    }
  double bytes_sent = 0;
  for (const KvFlow& f : flows) bytes_sent += f.bytes;
  // Decode blocks are reserved when the transfer starts (DistServe); the source keeps its blocks
  // until the KV has landed.
  auto held = src.detach_kv(seq);
  dst.reserve_kv(seq);
  ++pending_;
  ++crossing_[from];
  ++crossing_[to];
  const double started = now();
  sg::Actor::create(fmt::format("move-{}", seq.id), frontend_,
                    [this, &seq, &src, &dst, from, to, held = std::move(held), done, flows = std::move(flows), options,
                     bytes_sent, started] {
                      failure_.guard([&] {
                        send(src.plan(), dst.plan(), flows, options.setup);
                        // A move with nothing to send (semi-PD's shared KV) may get here while the
                        // source is still ending the step that handed the sequence off: it joins
                        // the target once the source has let it go.
                        while (src.is_running(seq)) sg::this_actor::yield();
                        check_clock([&] { return fmt::format("moving sequence {}'s KV from instance {} to {}", seq.id, from, to); });
                        src.release_kv(held);
                        reached(now());
                        recorder_.on_kv_handoff(seq.id, bytes_sent, now() - started);
                        if (options.first_token_on_landing) {
                          seq.first_token = now();
                          recorder_.on_first_token(seq.id, now());
                        }
                        dst.adopt(seq, now());
                        --pending_;
                        --crossing_[from];
                        --crossing_[to];
                        if (done) done();
                        wake(to);
                        settle(from);
                        end_if_quiescent();
                      });
                    });
}

bool ServingRun::migrate(policies::Sequence& seq, std::size_t from, std::size_t to, MigrationOptions options) {
  Replica& src = *replicas_.at(from);
  Replica& dst = *replicas_.at(to);
  if (from == to || state_[to] != serving::InstanceState::active || seq.migrating || seq.handed_off || !seq.decoding() || seq.kv_tier != serving::kDeviceTier ||
      !src.is_running(seq) || !src.plan().kv->allows_moves() || !dst.plan().kv->allows_moves())
    return false;
  if (options.mode != MigrationMode::recompute && !dst.can_hold(seq)) return false;
  if (dst.misfit(seq) != Replica::Misfit::none) return false;
  seq.migrating = true;
  ++pending_;
  ++crossing_[from];
  ++crossing_[to];
  sg::Actor::create(fmt::format("migrate-{}", seq.id), frontend_, [this, &seq, &src, &dst, from, to, options] {
    failure_.guard([&] {
      MigrationRecord record{.request = seq.id, .from = static_cast<int>(from), .to = static_cast<int>(to), .start = now()};
      policies::Sequence shadow;  // the target's block table while the copies run
      shadow.id = seq.id;
      std::int64_t sent = 0;  // tokens whose KV is on the target
      const int preemptions = seq.preemptions;
      // A sequence that ends has its storage recycled for a later request: `seq` is still ours
      // only while its id is.
      const std::int64_t id = seq.id;
      auto ours = [&] { return seq.id == id; };
      bool going = true;
      auto copy = [&](std::int64_t tokens) {
        const auto flows = kv_flows(src.plan(), dst.plan(), tokens);
        for (const KvFlow& f : flows) record.bytes += f.bytes;
        send(src.plan(), dst.plan(), flows, options.setup);
        ++record.stages;
      };
      // Live: copy what exists while it keeps decoding, then what was added meanwhile, until
      // what is left is small enough for the stop-and-copy (or the stages run out).
      if (options.mode == MigrationMode::live)
        for (int stage = 1; stage < options.max_stages && going; ++stage) {
          const std::int64_t tokens = seq.computed;
          if (dst.plan().kv->blocks_for(tokens - sent) <= options.last_stage_max_blocks) break;
          going = dst.reserve_shadow(shadow, tokens);
          if (!going) break;
          copy(tokens - sent);
          sent = tokens;
          going = ours() && src.is_running(seq) && seq.preemptions == preemptions;  // finished or preempted meanwhile: give up
        }
      // Stop at a step boundary.
      bool paused = false;
      if (going && ours()) {
        auto gate = sg::Semaphore::create(0);
        src.request_pause(seq, [&](bool p) {
          paused = p;
          gate->release();
        });
        gate->acquire();
      }
      // Preempted and resumed during the copies (its KV is new), or no room left on the target:
      // it resumes where it was.
      if (paused && (seq.preemptions != preemptions ||
                     (options.mode != MigrationMode::recompute && !dst.reserve_shadow(shadow, seq.computed)))) {
        src.adopt(seq, now());
        wake(from);
        paused = false;
      }
      const double stopped = now();
      if (!paused) {
        dst.release_shadow(shadow);
        record.aborted = true;
      } else if (options.mode == MigrationMode::recompute) {
        src.release_kv(src.detach_kv(seq));
        seq.computed = 0;  // prompt and output so far recomputed on the target
        dst.requeue(seq, now());
      } else {
        const double before = record.bytes;
        copy(seq.computed - sent);  // the stop-and-copy (all of it when blocking)
        record.last_stage_bytes = record.bytes - before;
        const auto held = src.detach_kv(seq);
        seq.blocks = std::move(shadow.blocks);
        src.release_kv(held);
        dst.adopt(seq, now());
      }
      if (paused) record.downtime = now() - stopped;
      check_clock([&] { return fmt::format("migrating sequence {} from instance {} to {}", id, from, to); });
      reached(now());
      record.end = now();
      recorder_.on_migration(record);
      if (ours()) seq.migrating = false;
      --pending_;
      --crossing_[from];
      --crossing_[to];
      wake(to);
      settle(from);
      settle(to);
      end_if_quiescent();
    });
  });
  return true;
}

}  // namespace hetsim::sim::detail
