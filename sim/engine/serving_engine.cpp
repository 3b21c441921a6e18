#include "sim/engine/serving_engine.hpp"

#include <simgrid/s4u.hpp>

#include <exception>
#include <memory>

#include "sim/core/error.hpp"
#include "sim/engine/executor.hpp"
#include "sim/engine/replica.hpp"
#include "sim/engine/simgrid_setup.hpp"
#include "sim/engine/transfer_network.hpp"

namespace hetsim::sim {
namespace sg = simgrid::s4u;

EngineStats run_serving(Scenario& sc, Recorder& recorder) {
  const auto engine = make_simgrid_engine();

  auto* zone = sg::create_full_zone("cluster");
  sg::Host* frontend = zone->create_host("frontend", 1e9);
  std::vector<sg::Host*> hosts;
  for (std::size_t i = 0; i < sc.replicas.size(); ++i)
    hosts.push_back(zone->create_host(fmt::format("replica-{}", i), 1e9));
  // One network per node instance, in its own zone: replicas on a node contend on its links.
  std::vector<std::unique_ptr<TransferNetwork>> networks;
  for (const auto& node : sc.nodes) {
    auto* node_zone = sg::create_full_zone(node.prefix);
    node_zone->set_parent(zone);
    networks.push_back(std::make_unique<TransferNetwork>(node.spec->topology, node_zone, node.prefix));
  }
  // Moves name platform tiers as "<node prefix><tier>"; each node's network knows its own tiers.
  auto start_move = [&](const std::string& from, const std::string& to, double bytes) {
    for (std::size_t n = 0; n < sc.nodes.size(); ++n) {
      const std::string& prefix = sc.nodes[n].prefix;
      if (from.starts_with(prefix) && to.starts_with(prefix))
        return networks[n]->start(from.substr(prefix.size()), to.substr(prefix.size()), bytes);
    }
    throw InvariantError(fmt::format("no network joins {} and {}", from, to));
  };
  // Compute engines (one per replica; its TP group runs in lockstep) in a zone without routes.
  auto* engine_zone = sg::create_empty_zone("engines");
  engine_zone->set_parent(zone);
  Executor executor(engine_zone, start_move);
  std::vector<EngineId> engine_ids;
  for (std::size_t i = 0; i < sc.replicas.size(); ++i) engine_ids.push_back(executor.add_engine(fmt::format("replica-{}.engine", i)));
  engine_zone->seal();
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
        OpGraph graph;
        while (true) {
          if (!replica.has_work()) {
            if (source_done) return;
            idle[i] = 1;
            sg::this_actor::suspend();
            continue;
          }
          replica.plan_step(sg::Engine::get_clock(), engine_ids[i], graph);
          executor.run(graph);
          replica.end_step(graph, sg::Engine::get_clock());
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
