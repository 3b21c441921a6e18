// Routers built from config through the registry, as sim/scenario/scenario.cpp builds them.
#include <catch2/catch.hpp>

#include <memory>
#include <map>
#include <random>
#include <set>
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
                          Catch::Contains("cache_affinity, least_outstanding, power_of_two, predicted_length, prefix_score, round_robin"));
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

namespace {
/// A request whose prompt is `units` 512-token content units named by `ids` (Mooncake style).
Request prompt(std::int64_t id, std::vector<std::uint64_t> ids) {
  Request r;
  r.id = id;
  r.hash_block_tokens = 512;
  r.prompt_tokens = static_cast<std::int64_t>(ids.size()) * 512;
  r.hash_tokens = r.prompt_tokens;
  r.hash_ids = std::move(ids);
  return r;
}
}  // namespace

TEST_CASE("routers: power_of_two picks the less loaded of two distinct fitting replicas, the same per seed",
          "[policies][router]") {
  auto a = make_router("{impl: power_of_two}");
  auto b = make_router("{impl: power_of_two}");
  a.router->seed(3);
  b.router->seed(3);
  // Replica 3 is the busiest: it can win only if drawn with itself, which never happens.
  const auto l = loads({{1, true}, {2, true}, {0, false}, {9, true}});
  const auto pa = picks(*a.router, l, 200);
  CHECK(pa == picks(*b.router, l, 200));
  std::map<std::size_t, int> count;
  for (std::size_t p : pa) ++count[p];
  CHECK(count[2] == 0);  // never a replica that cannot fit
  CHECK(count[3] == 0);  // never the busiest of any pair
  // Replica 0 wins every pair it is in (2 of the 3 pairs), replica 1 the pair {1, 3}.
  CHECK(count[0] > count[1]);
  CHECK(count[1] > 0);
  // Another seed, other draws.
  auto c = make_router("{impl: power_of_two}");
  c.router->seed(4);
  CHECK(picks(*c.router, l, 200) != pa);
  // One fitting replica: always it.
  CHECK(picks(*a.router, loads({{5, false}, {7, true}}), 3) == std::vector<std::size_t>{1, 1, 1});
}

TEST_CASE("routers: cache_affinity sends a prefix to one of its two candidates and falls back when both are far busier",
          "[policies][router]") {
  auto b = make_router("{impl: cache_affinity, prefix_tokens: 1024}");
  auto idle = loads({{0, true}, {0, true}, {0, true}, {0, true}, {0, true}, {0, true}, {0, true}, {0, true}});
  // The same first 1,024 tokens: the same replica under equal loads, whatever follows.
  const std::size_t home = b.router->route(prompt(0, {7, 8, 1}), idle);
  CHECK(b.router->route(prompt(1, {7, 8, 2, 3}), idle) == home);
  // Busy home: the other candidate, always the same one.
  idle[home].outstanding = 3;
  const std::size_t second = b.router->route(prompt(2, {7, 8, 9}), idle);
  CHECK(second != home);
  CHECK(b.router->route(prompt(3, {7, 8}), idle) == second);
  // Different prefixes spread over the fleet.
  auto fresh = loads({{0, true}, {0, true}, {0, true}, {0, true}, {0, true}, {0, true}, {0, true}, {0, true}});
  std::set<std::size_t> homes;
  for (std::uint64_t p = 0; p < 64; ++p) homes.insert(b.router->route(prompt(10, {100 + p, 1}), fresh));
  CHECK(homes.size() == 8);
  // Both candidates 40 requests above the emptiest (over 32 and over 1.5x): the emptiest.
  auto busy = loads({{50, true}, {50, true}, {50, true}, {50, true}, {50, true}, {50, true}, {50, true}, {50, true}});
  busy[5].outstanding = 10;
  if (home != 5 && second != 5) CHECK(b.router->route(prompt(4, {7, 8}), busy) == 5);
}

TEST_CASE("routers: prefix_score weighs the cached share against queue depth and KV utilisation", "[policies][router]") {
  auto b = make_router("{impl: prefix_score}");  // precise, 2 : 1 : 1
  b.router->seed(1);
  CHECK(b.router->reads_cached_prefix());
  auto l = loads({{0, true}, {0, true}, {0, true}});
  for (auto& x : l) x.kv_blocks = 100, x.kv_free_blocks = 100, x.cached_tokens = 0;
  const Request req = prompt(0, {1, 2, 3, 4});  // 2,048 tokens
  l[2].cached_tokens = 1536;
  CHECK(b.router->route(req, l) == 2);  // 2 x 0.75 over nothing
  // A queue on replica 2 (queue score 0 there, 1 elsewhere) and 30% KV use: 1.5 + 0 + 0.7 against 1 + 1.
  l[2].waiting = 4;
  l[2].kv_free_blocks = 70;
  CHECK(b.router->route(req, l) == 2);
  // Half the KV in use as well: 1.5 + 0 + 0.5 = 2 against 2, a tie between all three (drawn).
  l[2].kv_free_blocks = 50;
  l[2].cached_tokens = 1024;  // 2 x 0.5 + 0 + 0.5 = 1.5 < 2: replicas 0 or 1
  CHECK(b.router->route(req, l) != 2);
  // A replica that cannot fit is never chosen, however much it holds.
  l[2].can_fit = false;
  l[2].cached_tokens = 2048;
  l[2].waiting = 0;
  CHECK(b.router->route(req, l) != 2);
}

TEST_CASE("routers: approximate prefix_score remembers where it sent each prefix", "[policies][router]") {
  auto b = make_router("{impl: prefix_score, mode: approximate, lru_tokens: 2048}");
  b.router->seed(1);
  CHECK_FALSE(b.router->reads_cached_prefix());
  auto l = loads({{0, true}, {0, true}, {0, true}, {0, true}});
  for (auto& x : l) x.kv_blocks = 100, x.kv_free_blocks = 100;
  const std::size_t first = b.router->route(prompt(0, {1, 2, 3}), l);
  // Its next turn shares the prefix: the same replica (3 x 1 + 2 + 2 against 0 + 2 + 2).
  CHECK(b.router->route(prompt(1, {1, 2, 3, 4}), l) == first);
  // 2,048 tokens of memory per replica: four other units sent there evict the prefix.
  for (std::size_t i = 0; i < l.size(); ++i) l[i].waiting = i == first ? 0 : 1;
  b.router->route(prompt(2, {50, 51, 52, 53}), l);  // goes to `first` (queue 2 vs 0)
  // With a queue there (queue score 0) it would still win on a remembered prefix (3 + 0 + 2 > 0 + 2
  // + 2); forgotten, it loses to the others.
  for (std::size_t i = 0; i < l.size(); ++i) l[i].waiting = i == first ? 1 : 0;
  const std::size_t moved = b.router->route(prompt(3, {1, 2, 3, 4}), l);
  CHECK(moved != first);
  // From then on the prefix is remembered where it went.
  for (auto& x : l) x.waiting = 0;
  for (int k = 0; k < 8; ++k) CHECK(b.router->route(prompt(4 + k, {1, 2, 3, 4, 5}), l) == moved);
}
