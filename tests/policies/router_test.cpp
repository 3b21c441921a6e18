// Routers built from config through the registry, as sim/scenario/scenario.cpp builds them.
#include <catch2/catch.hpp>

#include <memory>
#include <random>
#include <vector>

#include "sim/serving/router.hpp"
#include "sim/core/registry.hpp"

using namespace hetsim;
using namespace hetsim::policies;

namespace {

struct Built {
  config::Document doc;
  std::unique_ptr<Router> router;
};

Built make_router(const std::string& yaml) {
  Built b{config::Document::load_string("router: " + yaml + "\n", "router.yaml"), nullptr};
  b.router = Registry<Router>::instance().make(b.doc.root().child("router"), "round_robin");
  b.doc.check_unknown_keys();
  return b;
}

/// Loads from (outstanding, can_fit) pairs.
std::vector<ReplicaLoad> loads(std::initializer_list<std::pair<std::int64_t, bool>> list) {
  std::vector<ReplicaLoad> out;
  for (const auto& [outstanding, fits] : list) {
    ReplicaLoad l;
    l.outstanding = outstanding;
    l.can_fit = fits;
    out.push_back(l);
  }
  return out;
}

/// The replicas chosen for `n` requests with fixed loads.
std::vector<std::size_t> picks(Router& r, const std::vector<ReplicaLoad>& l, int n) {
  std::vector<std::size_t> out;
  Request req;
  for (int i = 0; i < n; ++i) {
    req.id = i;
    out.push_back(r.route(req, l));
  }
  return out;
}

}  // namespace

TEST_CASE("routers: round_robin is the default and visits replicas in turn", "[policies][router]") {
  auto b = make_router("{}");
  const auto l = loads({{5, true}, {0, true}, {9, true}});
  CHECK(picks(*b.router, l, 7) == std::vector<std::size_t>{0, 1, 2, 0, 1, 2, 0});  // blind to load
}

TEST_CASE("routers: round_robin skips replicas that cannot fit the request", "[policies][router]") {
  auto b = make_router("{impl: round_robin}");
  CHECK(picks(*b.router, loads({{0, true}, {0, false}, {0, true}}), 5) == std::vector<std::size_t>{0, 2, 0, 2, 0});
  // Only the last replica fits: every request goes there.
  auto c = make_router("{impl: round_robin}");
  CHECK(picks(*c.router, loads({{0, false}, {0, false}, {0, true}}), 3) == std::vector<std::size_t>{2, 2, 2});
}

TEST_CASE("routers: least_outstanding picks the replica with the fewest unfinished requests", "[policies][router]") {
  auto b = make_router("{impl: least_outstanding}");
  Request req;
  CHECK(b.router->route(req, loads({{4, true}, {2, true}, {3, true}})) == 1);
  CHECK(b.router->route(req, loads({{4, true}, {2, true}, {1, true}})) == 2);
  CHECK(b.router->route(req, loads({{0, true}, {2, true}, {1, true}})) == 0);
}

TEST_CASE("routers: least_outstanding breaks ties by lowest index", "[policies][router]") {
  auto b = make_router("{impl: least_outstanding}");
  Request req;
  CHECK(b.router->route(req, loads({{3, true}, {1, true}, {1, true}})) == 1);
  CHECK(b.router->route(req, loads({{0, true}, {0, true}, {0, true}})) == 0);
  CHECK(b.router->route(req, loads({{2, true}, {5, true}, {2, true}})) == 0);
}

TEST_CASE("routers: least_outstanding ignores replicas that cannot fit, however idle", "[policies][router]") {
  auto b = make_router("{impl: least_outstanding}");
  Request req;
  CHECK(b.router->route(req, loads({{0, false}, {5, true}, {2, true}})) == 2);
  CHECK(b.router->route(req, loads({{9, true}, {0, false}, {0, false}})) == 0);
  // A tie between a fitting and a non-fitting replica goes to the one that fits.
  CHECK(b.router->route(req, loads({{1, false}, {1, true}})) == 1);
}

TEST_CASE("routers: the same loads give the same choices on every run", "[policies][router]") {
  for (const char* impl : {"round_robin", "least_outstanding"}) {
    INFO(impl);
    auto a = make_router(fmt::format("{{impl: {}}}", impl));
    auto b = make_router(fmt::format("{{impl: {}}}", impl));
    const auto l = loads({{2, true}, {0, false}, {2, true}, {7, true}});
    CHECK(picks(*a.router, l, 9) == picks(*b.router, l, 9));
  }
}

TEST_CASE("routers: an unknown router name lists the valid ones", "[policies][router][errors]") {
  REQUIRE_THROWS_WITH(make_router("{impl: least_loaded}"),
                      Catch::Contains("router.impl") && Catch::Contains("unknown router") &&
                          Catch::Contains("least_outstanding, round_robin"));
}

TEST_CASE("routers: the fleet index keeps each class's least outstanding replica, lowest index first",
          "[policies][router][fleet]") {
  FleetIndex fleet({0, 1, 0, 0, 1});
  REQUIRE(fleet.classes() == 2);
  CHECK(std::vector<std::size_t>(fleet.members(0).begin(), fleet.members(0).end()) == std::vector<std::size_t>{0, 2, 3});
  CHECK(fleet.least_outstanding(0) == FleetIndex::Entry{0, 0});
  fleet.set_outstanding(0, 3);
  fleet.set_outstanding(2, 1);
  CHECK(fleet.least_outstanding(0) == FleetIndex::Entry{0, 3});
  fleet.set_outstanding(3, 1);
  CHECK(fleet.least_outstanding(0) == FleetIndex::Entry{1, 2});
  CHECK(fleet.least_outstanding(1) == FleetIndex::Entry{0, 1});
  CHECK(fleet.outstanding(0) == 3);
}

TEST_CASE("routers: the indexed fast path chooses exactly as route() does", "[policies][router][fleet]") {
  // Random fleets (1 to 40 replicas in up to 4 fit classes) and random load changes; both paths
  // of a fresh router of each kind see the same loads and must pick the same replicas in turn.
  std::mt19937_64 rng(7);
  for (const char* impl : {"round_robin", "least_outstanding"}) {
    INFO(impl);
    for (int trial = 0; trial < 200; ++trial) {
      const std::size_t n = 1 + rng() % 40;
      const std::size_t classes = 1 + rng() % 4;
      std::vector<std::size_t> class_of(n);
      for (auto& c : class_of) c = rng() % classes;
      // Renumber classes by first appearance, without gaps, as the engine does.
      std::vector<std::size_t> renamed(classes, classes);
      std::size_t used = 0;
      for (auto& c : class_of) c = renamed[c] == classes ? (renamed[c] = used++) : renamed[c];
      FleetIndex fleet(class_of);
      auto by_scan = make_router(fmt::format("{{impl: {}}}", impl));
      auto by_index = make_router(fmt::format("{{impl: {}}}", impl));
      std::vector<ReplicaLoad> l(n);
      std::vector<char> fits(used);
      Request req;
      for (int step = 0; step < 50; ++step) {
        const std::size_t changed = rng() % n;
        l[changed].outstanding = static_cast<std::int64_t>(rng() % 4);
        fleet.set_outstanding(changed, l[changed].outstanding);
        bool any = false;
        for (auto& f : fits) any = any || (f = rng() % 3 != 0);
        if (!any) fits[rng() % used] = 1;
        for (std::size_t i = 0; i < n; ++i) l[i].can_fit = fits[class_of[i]];
        const auto plan = by_index.router->plan_indexed(req, fleet, fits);
        REQUIRE(plan);
        REQUIRE(plan->instance == by_scan.router->route(req, l));
      }
    }
  }
}
