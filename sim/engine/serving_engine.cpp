#include "sim/engine/serving_engine.hpp"

#include <simgrid/s4u.hpp>

#include <exception>
#include <memory>

#include "sim/core/error.hpp"
#include "sim/engine/replica.hpp"
#include "sim/engine/simgrid_setup.hpp"
#include "sim/engine/transfer_network.hpp"

namespace hetsim::sim {
namespace sg = simgrid::s4u;

namespace {
/// Makes the step's KV copies on the replica's node: every TP rank moves its own shard over its
/// own route, out (device -> swap tier) and in (swap tier -> device) concurrently; the step
/// computes once all copies have landed. Returns the seconds spent.
double copy_kv(TransferNetwork& net, const std::string& prefix, const ReplicaPlan& plan, const KvCopies& copies) {
  const double t0 = sg::Engine::get_clock();
  std::vector<TransferNetwork::Transfer> inflight;
  const std::string swap = prefix + plan.swap_tier;
  for (const auto& device_tier : plan.device_tiers) {
    if (copies.out_bytes > 0) inflight.push_back(net.start(prefix + device_tier, swap, copies.out_bytes));
    if (copies.in_bytes > 0) inflight.push_back(net.start(swap, prefix + device_tier, copies.in_bytes));
  }
  for (auto& t : inflight) t.wait();
  return sg::Engine::get_clock() - t0;
}
}  // namespace

EngineStats run_serving(Scenario& sc, Recorder& recorder) {
  const auto engine = make_simgrid_engine();

  // Actor hosts in a star zone (no routes: they only compute), beside one platform network of all
  // node instances and the cluster fabric: every tier of the run can reach every other.
  auto* zone = sg::create_star_zone("cluster");
  sg::Host* frontend = zone->create_host("frontend", 1e9);
  std::vector<sg::Host*> hosts;
  for (std::size_t i = 0; i < sc.replicas.size(); ++i)
    hosts.push_back(zone->create_host(fmt::format("replica-{}", i), 1e9));
  TransferNetwork platform(platform_of(sc), zone);
  zone->seal();

  std::vector<policies::Sequence> sequences(sc.requests.size());
  std::vector<std::unique_ptr<Replica>> replicas;
  for (std::size_t i = 0; i < sc.replicas.size(); ++i)
    replicas.push_back(std::make_unique<Replica>(static_cast<int>(i), sc.replicas[i], sc.model, sc.max_model_len, recorder));
  std::vector<sg::ActorPtr> actors(replicas.size());
  std::vector<char> idle(replicas.size(), 0);
  bool source_done = false;
  std::exception_ptr failure;
  EngineStats stats;

  // Actors are per resource (one source, one per replica); requests are plain data.
  for (std::size_t i = 0; i < replicas.size(); ++i) {
    actors[i] = sg::Actor::create(fmt::format("replica-{}", i), hosts[i], [&, i] {
      try {
        Replica& replica = *replicas[i];
        while (true) {
          if (!replica.has_work()) {
            if (source_done) return;
            idle[i] = 1;
            sg::this_actor::suspend();
            continue;
          }
          const double dt = replica.begin_step(sg::Engine::get_clock());
          if (replica.kv_copies().any()) {
            const ReplicaPlan& plan = sc.replicas[i];
            replica.copies_done(copy_kv(platform, sc.nodes[static_cast<std::size_t>(plan.node)].prefix, plan, replica.kv_copies()));
          }
          sg::this_actor::sleep_for(dt);
          replica.end_step(sg::Engine::get_clock());
          ++stats.events;
        }
      } catch (...) {
        failure = std::current_exception();
        sg::Actor::kill_all();
      }
    });
  }
  sg::Actor::create("source", frontend, [&] {
    try {
      std::vector<policies::ReplicaLoad> loads(replicas.size());
      for (const Request& req : sc.requests) {
        if (req.arrival > sg::Engine::get_clock()) sg::this_actor::sleep_until(req.arrival);
        const double now = sg::Engine::get_clock();
        recorder.on_arrival(req, now);
        ++stats.events;
        policies::Sequence& seq = sequences[static_cast<std::size_t>(req.id)];
        seq.id = req.id;
        seq.arrival = now;
        seq.prompt_tokens = req.prompt_tokens;
        seq.output_tokens = req.output_tokens;
        // Routers choose among the replicas that could ever hold the request (in a mixed fleet a
        // long request may fit only the larger devices); if none can, replica 0 rejects it.
        bool any_fits = false;
        for (std::size_t i = 0; i < replicas.size(); ++i) {
          loads[i] = replicas[i]->load();
          loads[i].can_fit = replicas[i]->rejection_reason(seq).empty();
          any_fits = any_fits || loads[i].can_fit;
        }
        const std::size_t target = any_fits ? sc.router->route(req, loads) : 0;
        if (target >= replicas.size() || (any_fits && !loads[target].can_fit))
          throw InvariantError(fmt::format("router chose replica {} of {}, which cannot hold request {}", target,
                                           replicas.size(), req.id));
        if (replicas[target]->accept(seq, now) && idle[target]) {
          idle[target] = 0;
          actors[target]->resume();
        }
      }
      source_done = true;
      for (std::size_t i = 0; i < replicas.size(); ++i)
        if (idle[i]) {
          idle[i] = 0;
          actors[i]->resume();
        }
    } catch (...) {
      failure = std::current_exception();
      sg::Actor::kill_all();
    }
  });
  engine->run();
  if (failure) std::rethrow_exception(failure);
  recorder.finish(sg::Engine::get_clock());
  return stats;
}

}  // namespace hetsim::sim
