// The executor runs op graphs: compute chains as timed activities on engines, moves as contended
// transfers, each node as soon as its dependencies finish. Each TEST_CASE is its own process (one
// SimGrid engine per process).
#include <catch2/catch.hpp>

#include <functional>

#include "hw/topology.hpp"
#include "sim/core/config.hpp"
#include "sim/engine/executor.hpp"
#include "sim/engine/simgrid_setup.hpp"

using namespace hetsim;
namespace sg = simgrid::s4u;

namespace {
// Two memories joined by one 10 GB/s link without latency: a 10 GB move takes exactly 1 s.
const char* kTwoTiers = R"(
tiers:
  - {name: a, kind: dram, capacity: 1 TB, bandwidth: 1 TB/s}
  - {name: b, kind: dram, capacity: 1 TB, bandwidth: 1 TB/s}
links:
  - {name: ab, kind: pcie, between: [a, b], bandwidth: 10 GB/s}
)";

/// Builds the two-tier network and `engines` compute engines, runs `body` in an actor.
void simulate(int engines, const std::function<void(sim::Executor&, std::vector<EngineId>&)>& body) {
  auto engine = sim::make_simgrid_engine();
  auto doc = config::Document::load_string(kTwoTiers, "two_tiers.yaml");
  const hw::NodeTopology topology = hw::parse_topology(doc.root());
  auto* root = sg::create_full_zone("root");
  auto* net_zone = sg::create_full_zone("net");
  net_zone->set_parent(root);
  sim::TransferNetwork net(topology, net_zone);
  auto* engine_zone = sg::create_empty_zone("engines");
  engine_zone->set_parent(root);
  sim::Executor executor(engine_zone, [&](const std::string& from, const std::string& to, double bytes, double, double) {
    return net.start(from, to, bytes);
  });
  std::vector<EngineId> ids;
  for (int i = 0; i < engines; ++i) ids.push_back(executor.add_engine("engine" + std::to_string(i)));
  engine_zone->seal();
  root->seal();
  sg::Actor::create("driver", net.host("a"), [&] { body(executor, ids); });
  engine->run();
}
const std::string kA = "a", kB = "b";
}  // namespace

TEST_CASE("executor: compute overlaps a transfer, a node starts when its dependencies end", "[engine][executor]") {
  simulate(2, [](sim::Executor& ex, std::vector<EngineId>& e) {
    OpGraph g;
    const NodeId c = g.add_compute("chain_a", e[0], 1.5);
    const NodeId m = g.add_move("copy", kA, kB, 10e9);  // 1 s
    const NodeId deps[] = {c, m};
    g.add_compute("chain_b", e[1], 0.25, deps);
    ex.run(g, sg::Engine::get_clock());
    CHECK(g.nodes()[0].end == Approx(1.5));
    CHECK(g.nodes()[1].end == Approx(1.0));
    CHECK(g.nodes()[2].start == Approx(1.5));  // waited for the slower of its two inputs
    CHECK(sg::Engine::get_clock() == Approx(1.75));
  });
}

TEST_CASE("executor: two chains on one engine share it, on two engines they do not", "[engine][executor]") {
  simulate(2, [](sim::Executor& ex, std::vector<EngineId>& e) {
    OpGraph same;
    same.add_compute("x", e[0], 1.0);
    same.add_compute("y", e[0], 1.0);
    ex.run(same, sg::Engine::get_clock());
    CHECK(same.nodes()[0].end == Approx(2.0));
    CHECK(same.nodes()[1].end == Approx(2.0));
    OpGraph apart;
    apart.add_compute("x", e[0], 1.0);
    apart.add_compute("y", e[1], 1.0);
    ex.run(apart, sg::Engine::get_clock());
    CHECK(sg::Engine::get_clock() == Approx(3.0));
    SECTION("the fast path: one chain is exactly one sleep") {
      OpGraph one;
      one.add_compute("step", e[0], 0.125);
      ex.run(one, sg::Engine::get_clock());
      CHECK(sg::Engine::get_clock() == 3.125);
    }
  });
}

TEST_CASE("executor: an engine that is off, or fails while running, is an EngineFailure naming it", "[engine][executor]") {
  simulate(1, [](sim::Executor& ex, std::vector<EngineId>& e) {
    OpGraph g;
    g.add_compute("step", e[0], 1.0);
    ex.set_engine_on(e[0], false);
    REQUIRE_THROWS_WITH(ex.run(g, sg::Engine::get_clock()), Catch::Contains("engine0 is off"));
    ex.set_engine_on(e[0], true);
    ex.run(g, sg::Engine::get_clock());
    CHECK(sg::Engine::get_clock() == Approx(1.0));
    // A failure during a chain that overlaps a transfer.
    OpGraph overlap;
    overlap.add_compute("step", e[0], 1.0);
    overlap.add_move("copy", kA, kB, 10e9);
    sg::Actor::create("failure", sg::this_actor::get_host(), [&ex, id = e[0]] {
      sg::this_actor::sleep_for(0.5);
      ex.set_engine_on(id, false);
    });
    try {
      ex.run(overlap, sg::Engine::get_clock());
      FAIL("expected an EngineFailure");
    } catch (const sim::EngineFailure& f) {
      CHECK(f.engine() == e[0]);
      CHECK_THAT(f.what(), Catch::Contains("engine0 failed"));
      CHECK(sg::Engine::get_clock() == Approx(1.5));
    }
  });
}
