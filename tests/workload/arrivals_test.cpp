// Arrival policies on their own (no engine): the open loop replays timestamps; the closed loop
// keeps N clients, each issuing its next request a think time after its previous one ended.
#include <catch2/catch.hpp>

#include <map>

#include "sim/core/error.hpp"
#include "workload/arrivals.hpp"
#include "workload/closed_loop.hpp"
#include "workload/open_loop.hpp"
#include "workload/think_time.hpp"
#include "workload/stream_support.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {
std::vector<Request> requests(std::size_t n) {
  std::vector<Request> rs(n);
  for (std::size_t i = 0; i < n; ++i) {
    rs[i].id = static_cast<std::int64_t>(i);
    rs[i].arrival = 0.5 * static_cast<double>(i);
    rs[i].prompt_tokens = rs[i].output_tokens = 1;
  }
  return rs;
}
std::unique_ptr<workload::RequestStream> pool(std::size_t n) { return std::make_unique<test::VectorStream>(requests(n)); }
workload::WorkloadTotals totals(std::size_t n) { return workload::WorkloadTotals::of(*pool(n)); }
workload::ThinkTime think(const std::string& yaml) {
  auto doc = config::Document::load_string(yaml, "w.yaml");
  auto t = workload::ThinkTime::parse(doc.root());
  doc.check_unknown_keys();
  return t;
}
std::unique_ptr<workload::Arrivals> arrivals(const std::string& yaml, std::size_t n) {
  auto doc = config::Document::load_string(yaml, "w.yaml");
  auto a = workload::make_arrivals(doc.root(), pool(n), totals(n), 1);
  doc.check_unknown_keys();
  return a;
}
}  // namespace

TEST_CASE("workload::OpenLoop: issues the pool at its timestamps, in order", "[workload][arrivals]") {
  workload::OpenLoop open(pool(3), totals(3));
  CHECK_FALSE(open.reacts_to_ends());
  CHECK(open.clients() == 0);
  for (std::size_t i = 0; i < 3; ++i) {
    REQUIRE(open.next_time());
    CHECK(*open.next_time() == 0.5 * static_cast<double>(i));
    const auto issue = open.pop();
    CHECK(issue.request.id == static_cast<std::int64_t>(i));
    CHECK(issue.time == 0.5 * static_cast<double>(i));
    CHECK(issue.client == -1);
  }
  CHECK(open.done());
  CHECK_FALSE(open.next_time());
  CHECK(open.describe() == "3 requests over 1.0 s");
}

TEST_CASE("workload::ClosedLoop: N clients start at 0, each issues after its request ends plus think time",
          "[workload][arrivals]") {
  workload::ClosedLoop loop(pool(5), totals(5), 2, think("think_time: 2 s\n"), 1);
  CHECK(loop.reacts_to_ends());
  // Both clients send at time 0, client 0 first; then nothing until a request ends.
  auto a = loop.pop();
  auto b = loop.pop();
  CHECK((a.request.id == 0 && a.client == 0 && a.time == 0 && a.think == -1));
  CHECK((b.request.id == 1 && b.client == 1 && b.time == 0));
  CHECK_FALSE(loop.next_time());
  // Request 1 (client 1) ends first: client 1 issues request 2 two seconds later.
  loop.on_end(1, 3.0);
  REQUIRE(loop.next_time());
  CHECK(*loop.next_time() == 5.0);
  // Request 0 ends at 4.0: client 0 is due at 6.0, after client 1.
  loop.on_end(0, 4.0);
  auto c = loop.pop();
  CHECK((c.request.id == 2 && c.client == 1 && c.time == 5.0 && c.think == 2.0));
  auto d = loop.pop();
  CHECK((d.request.id == 3 && d.client == 0 && d.time == 6.0));
  loop.on_end(3, 7.0);
  auto e = loop.pop();
  CHECK((e.request.id == 4 && e.client == 0 && e.time == 9.0));
  CHECK(loop.done());
  // The pool is used up: later ends schedule nothing.
  loop.on_end(2, 9.5);
  loop.on_end(4, 10.0);
  CHECK_FALSE(loop.next_time());
  // An end reported twice is an engine bug, not silently accepted.
  CHECK_THROWS_AS(loop.on_end(4, 11.0), InvariantError);
}

TEST_CASE("workload::ClosedLoop: more clients than requests leaves the extra clients idle", "[workload][arrivals]") {
  workload::ClosedLoop loop(pool(3), totals(3), 8, think("{}\n"), 1);
  for (int i = 0; i < 3; ++i) CHECK(loop.pop().client == i);
  CHECK(loop.done());
  CHECK_FALSE(loop.next_time());
}

TEST_CASE("workload::ClosedLoop: random think times are reproducible and have the requested mean", "[workload][arrivals]") {
  auto run = [](std::uint64_t seed) {
    workload::ClosedLoop loop(pool(20001), totals(20001), 1, think("think_time: {dist: exponential, mean: 2 s}\n"), seed);
    std::vector<double> thinks;
    double now = 0;
    while (!loop.done()) {
      const auto issue = loop.pop();
      if (issue.think >= 0) thinks.push_back(issue.think);
      now = issue.time + 1.0;  // each request takes 1 s
      loop.on_end(issue.request.id, now);
    }
    return thinks;
  };
  const auto a = run(3), b = run(3), c = run(4);
  REQUIRE(a.size() == 20000);
  CHECK(a == b);
  CHECK(a != c);
  double sum = 0;
  for (double t : a) sum += t;
  CHECK(sum / 20000 == Approx(2.0).epsilon(0.03));  // 20k exponential draws: standard error 0.7%
}

TEST_CASE("workload::ThinkTime: constant, fixed, exponential and uniform", "[workload][arrivals]") {
  Rng rng(1, "t");
  CHECK(think("{}\n").mean() == 0);
  CHECK(think("think_time: 250 ms\n").sample(rng) == 0.25);
  CHECK(think("think_time: {dist: fixed, value: 1 s}\n").mean() == 1.0);
  CHECK(think("think_time: {dist: exponential, mean: 3 s}\n").mean() == 3.0);
  const auto u = think("think_time: {dist: uniform, min: 1 s, max: 3 s}\n");
  CHECK(u.mean() == 2.0);
  for (int i = 0; i < 1000; ++i) {
    const double x = u.sample(rng);
    REQUIRE((x >= 1.0 && x <= 3.0));
  }
}

TEST_CASE("workload arrivals: config errors name the key, the value and the expectation", "[workload][arrivals][errors]") {
  CHECK_THROWS_WITH(think("think_time: -1 s\n"), Contains("w.yaml:1: think_time = -1 s"));
  CHECK_THROWS_WITH(think("think_time: 5\n"), Contains("think_time = 5") && Contains("unit"));
  CHECK_THROWS_WITH(think("think_time: {dist: normal}\n"), Contains("think_time.dist = normal") && Contains("expected one of"));
  CHECK_THROWS_WITH(think("think_time: {dist: uniform, min: 3 s, max: 1 s}\n"),
                    Contains("think_time.max = 1 s") && Contains("at least min (3 s)"));
  CHECK_THROWS_WITH(think("think_time: {dist: exponential, mean: 0 s}\n"), Contains("think_time.mean = 0 s"));
  CHECK_THROWS_WITH(arrivals("concurrency: 0\n", 3), Contains("w.yaml:1: concurrency = 0: expected an integer in [1, 1000000]"));
  CHECK_THROWS_WITH(arrivals("concurrency: many\n", 3), Contains("concurrency = many"));
  CHECK_THROWS_WITH(arrivals("think_time: 1 s\n", 3),
                    Contains("w.yaml:1: think_time = 1 s") && Contains("give workload.concurrency"));
  CHECK(arrivals("concurrency: 4\nthink_time: 1 s\n", 3)->clients() == 4);
  CHECK(arrivals("{}\n", 3)->clients() == 0);
}
