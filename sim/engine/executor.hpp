#pragma once
// The one executor (DESIGN.md idea 3): instances and ranks submit op graphs (sim/core/op_graph)
// from their actor and get back when every node has run. A compute node is one timed activity on
// its engine (a SimGrid host of its own, so two chains on one engine share it and an engine can
// be turned off and on); a move node is a contended transfer on the platform network. Nodes start
// as soon as their dependencies finish, so compute overlaps transfers.
#include <simgrid/s4u.hpp>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/core/op_graph.hpp"
#include "sim/engine/transfer_network.hpp"

namespace hetsim::sim {

/// An engine was off (failed) when a compute node needed it, or failed while running one.
class EngineFailure : public std::runtime_error {
 public:
  EngineFailure(EngineId engine, const std::string& what) : std::runtime_error(what), engine_(engine) {}
  EngineId engine() const { return engine_; }

 private:
  EngineId engine_;
};

class Executor {
 public:
  /// Starts a transfer between two platform tiers (the run's network decides the route): `bytes`
  /// in pieces of `request_size`, plus `overhead` seconds of setup (TransferNetwork::start).
  using MoveStarter = std::function<TransferNetwork::Transfer(const std::string& from, const std::string& to, double bytes,
                                                              double request_size, double overhead)>;

  Executor(simgrid::s4u::NetZone* zone, MoveStarter start_move) : zone_(zone), start_move_(std::move(start_move)) {}

  /// Receives a background move (GraphNode::background) to start and run on its own (in an actor
  /// of its own: SimGrid activities stay with the actor that started them); the graph goes on
  /// without it. Without a sink, background moves are waited for like the others.
  using BackgroundSink = std::function<void(const GraphNode& move)>;
  void set_background_sink(BackgroundSink sink) { background_ = std::move(sink); }

  /// Adds an engine; its host is created in the executor's zone (before the zone is sealed). A
  /// `shared` engine runs several graphs' compute at once (they share its speed), so its nodes never
  /// take the plain-sleep fast path, which only an engine with one graph at a time may.
  EngineId add_engine(const std::string& name, bool shared = false);
  /// Turns an engine off (running and later compute on it fails with EngineFailure) or on again.
  void set_engine_on(EngineId engine, bool on);
  bool engine_on(EngineId engine) const;
  const std::string& engine_name(EngineId engine) const { return names_.at(engine); }

  /// Starts a transfer outside any graph (a sequence moving between instances).
  TransferNetwork::Transfer start_move(const std::string& from, const std::string& to, double bytes) {
    return start_move_(from, to, bytes, 1 << 20, 0.0);
  }
  /// Runs `graph` from the calling actor and returns when every node has finished; fills each
  /// node's start and end times. `now` is the current simulated time. A graph of one compute node
  /// is one sleep (the fast path).
  void run(OpGraph& graph, double now);
  /// Runs `graph` at `now` without a SimGrid event when nothing could observe it before it ends:
  /// a single compute node on an engine that is on, ending before `horizon` (the next time
  /// anything outside the caller can happen). Fills start and end; false (nothing done) otherwise.
  /// Times are exact (`now + seconds`), the same values run() records, so a run gives identical
  /// results with and without it.
  bool try_run_ahead(OpGraph& graph, double now, double horizon) const;

 private:
  void run_general(OpGraph& graph);
  /// Runs one compute node with nothing else in flight, as a sleep.
  void run_alone(GraphNode& node, double now);
  /// EngineFailure "engine NAME <what> 'NODE'" unless the node's engine is on.
  void check_on(const GraphNode& node, const char* what) const;

  simgrid::s4u::NetZone* zone_;
  MoveStarter start_move_;
  BackgroundSink background_;
  std::vector<simgrid::s4u::Host*> hosts_;
  std::vector<std::string> names_;
  std::vector<char> on_;  ///< mirrors the hosts' state without a SimGrid call per step
  std::vector<char> shared_;
  /// Whether node `n` may run as a plain sleep when nothing else of its graph is in flight.
  bool may_sleep(const GraphNode& n) const { return n.kind == GraphNode::Kind::compute && !shared_[n.engine]; }
};

}  // namespace hetsim::sim
