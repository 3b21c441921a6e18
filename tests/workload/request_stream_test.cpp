// Workloads as streams: each open() replays the same requests from the first; trace options apply
// on the fly; a bad trace row anywhere still fails the scenario at load; closed-loop clients
// remember only the requests in flight.
#include <catch2/catch.hpp>

#include <deque>
#include <random>

#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"
#include "sim/scenario/scenario.hpp"
#include "support.hpp"
#include "workload/azure_trace.hpp"
#include "workload/closed_loop.hpp"
#include "workload/stream_support.hpp"
#include "workload/trace_options.hpp"
#include "workload/workload_source.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {
std::unique_ptr<workload::WorkloadSource> source(const std::string& yaml) {
  auto doc = config::Document::load_string(yaml, "w.yaml");
  auto src = Registry<workload::WorkloadSource>::instance().make(doc.root(), "", "source");
  doc.check_unknown_keys();
  return src;
}
bool same(const std::vector<Request>& a, const std::vector<Request>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].id != b[i].id || a[i].arrival != b[i].arrival || a[i].prompt_tokens != b[i].prompt_tokens ||
        a[i].output_tokens != b[i].output_tokens || a[i].hash_ids != b[i].hash_ids)
      return false;
  return true;
}
Request request(std::int64_t id, double arrival, std::int64_t prompt) {
  Request r;
  r.id = id;
  r.arrival = arrival;
  r.prompt_tokens = prompt;
  r.output_tokens = 1;
  return r;
}
}  // namespace

TEST_CASE("request streams: every open() yields the same requests from the first, ids 0..n-1", "[workload][stream]") {
  const std::vector<std::string> yamls{
      "source: synthetic\nnum_requests: 500\narrival: {process: gamma, rate: 3, cv: 2}\n"
      "prompt_tokens: {dist: lognormal, median: 500, sigma: 1}\noutput_tokens: {dist: uniform, min: 1, max: 90}\n",
      "source: synthetic\nduration: 30 s\narrival: {rate: 4}\nprompt_tokens: 7\noutput_tokens: {dist: uniform, min: 1, max: 9}\n",
      "source: synthetic\nconcurrency: 3\nnum_requests: 50\nprompt_tokens: {dist: uniform, min: 1, max: 99}\noutput_tokens: 4\n",
      "source: azure\nfile: " + test::fixture("traces/azure_conv_sample.csv") + "\nrate_scale: 2\nlimit: 6\n",
      "source: mooncake\nfile: " + test::fixture("traces/mooncake_conv_sample.jsonl") + "\n",
      "source: burstgpt\nfile: " + test::fixture("traces/burstgpt_sample.csv") + "\nmodel: GPT-4\n"};
  for (const auto& yaml : yamls) {
    INFO(yaml);
    const auto src = source(yaml);
    // Two streams read side by side do not disturb each other, and a later one starts over.
    auto a = src->open(5), b = src->open(5);
    std::vector<Request> ra, rb;
    while (true) {
      auto x = a->next(), y = b->next();
      REQUIRE(x.has_value() == y.has_value());
      if (!x) break;
      ra.push_back(std::move(*x));
      rb.push_back(std::move(*y));
    }
    CHECK_FALSE(a->next());  // an ended stream stays ended
    const auto rc = test::drain(src->open(5));
    REQUIRE(!ra.empty());
    CHECK(same(ra, rb));
    CHECK(same(ra, rc));
    for (std::size_t i = 0; i < ra.size(); ++i) {
      REQUIRE(ra[i].id == static_cast<std::int64_t>(i));
      if (i > 0) REQUIRE(ra[i].arrival >= ra[i - 1].arrival);
    }
    const auto totals = workload::WorkloadTotals::of(*src->open(5));
    CHECK(totals.requests == ra.size());
    CHECK(totals.last_arrival == ra.back().arrival);
  }
  // A different seed, a different synthetic workload.
  const auto src = source(yamls[0]);
  CHECK_FALSE(same(test::drain(src->open(5)), test::drain(src->open(6))));
}

TEST_CASE("request streams: trace options re-base, scale, cut and renumber on the fly", "[workload][stream]") {
  const std::vector<Request> rows{request(40, 10.0, 1), request(41, 12.0, 2), request(42, 12.0, 3), request(43, 20.0, 4)};
  auto options = [](double rate_scale, std::int64_t limit) {
    workload::TraceOptions o;
    o.rate_scale = rate_scale;
    o.limit = limit;
    return o;
  };
  const auto all = test::drain(options(1, 0).apply(std::make_unique<test::VectorStream>(rows)));
  REQUIRE(all.size() == 4);
  CHECK((all[0].arrival == 0 && all[1].arrival == 2 && all[2].arrival == 2 && all[3].arrival == 10));
  CHECK((all[0].id == 0 && all[3].id == 3 && all[3].prompt_tokens == 4));
  const auto fast = test::drain(options(4, 3).apply(std::make_unique<test::VectorStream>(rows)));
  REQUIRE(fast.size() == 3);
  CHECK((fast[0].arrival == 0 && fast[1].arrival == 0.5 && fast[2].arrival == 0.5));
  CHECK((fast[2].id == 2 && fast[2].prompt_tokens == 3));
  CHECK(test::drain(options(1, 9).apply(std::make_unique<test::VectorStream>(rows))).size() == 4);

  // The same on a trace file, against its rows read raw.
  const std::string path = test::fixture("traces/azure_conv_sample.csv");
  const auto raw = test::drain(workload::open_azure_trace(path));
  const auto replay = test::drain(source("source: azure\nfile: " + path + "\nrate_scale: 0.5\nlimit: 5\n")->open(1));
  REQUIRE(raw.size() > 5);
  REQUIRE(replay.size() == 5);
  for (std::size_t i = 0; i < replay.size(); ++i) {
    CHECK(replay[i].id == static_cast<std::int64_t>(i));
    CHECK(replay[i].arrival == (raw[i].arrival - raw[0].arrival) / 0.5);
    CHECK(replay[i].prompt_tokens == raw[i].prompt_tokens);
  }
}

TEST_CASE("request streams: a bad row past the limit still fails the trace, naming its line", "[workload][stream][errors]") {
  test::TempDir dir("stream_limit");
  const auto f = dir.write("t.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.0,10,5\n"
                                    "2023-11-16 18:15:47.0,10,5\n2023-11-16 18:15:48.0,abc,5\n");
  const auto src = source("source: azure\nfile: " + f + "\nlimit: 1\n");
  auto s = src->open(1);
  REQUIRE(s->next());
  REQUIRE_THROWS_WITH(s->next(), Contains("t.csv:4: ContextTokens = \"abc\""));
}

TEST_CASE("scenario load: a trace whose last row is bad fails at load, naming the row", "[workload][stream][errors]") {
  test::TempDir dir("stream_load");
  std::string csv = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
  for (int s = 0; s < 50; ++s) csv += fmt::format("2023-11-16 18:15:{:02}.0,100,20\n", s);
  csv += "2023-11-16 18:14:00.0,100,20\n";  // line 52: earlier than the row before
  const auto f = dir.write("t.csv", csv);
  auto doc = config::Document::load_string(
      "model: llama-3-8b\ncluster: {device: h100-sxm5-80gb}\nworkload: {source: azure, file: " + f + "}\n", "s.yaml");
  REQUIRE_THROWS_WITH(sim::load_scenario(doc),
                      Contains("t.csv:52: TIMESTAMP = \"2023-11-16 18:14:00.0\": earlier than the row before"));
}

TEST_CASE("scenario load: the totals are the whole workload's", "[workload][stream]") {
  auto doc = config::Document::load_string(
      "model: llama-3-8b\ncluster: {device: h100-sxm5-80gb}\nworkload: {source: azure, file: " +
          test::fixture("traces/azure_conv_sample.csv") + "}\n",
      "s.yaml");
  const sim::Scenario sc = sim::load_scenario(doc);
  const auto raw = test::drain(workload::open_azure_trace(test::fixture("traces/azure_conv_sample.csv")));
  std::int64_t prompt = 0, output = 0;
  for (const auto& r : raw) prompt += r.prompt_tokens, output += r.output_tokens;
  CHECK(sc.totals.requests == raw.size());
  CHECK(sc.totals.prompt_tokens == prompt);
  CHECK(sc.totals.output_tokens == output);
  CHECK(sc.totals.last_arrival == raw.back().arrival);
  CHECK(sc.arrivals->describe() == fmt::format("{} requests over {:.1f} s", raw.size(), raw.back().arrival));
}

TEST_CASE("workload::ClosedLoop: a pool of N issues exactly N, remembering only the requests in flight",
          "[workload][stream][arrivals]") {
  constexpr std::size_t kPool = 5000;
  constexpr int kClients = 7;
  std::vector<Request> rows;
  for (std::size_t i = 0; i < kPool; ++i) rows.push_back(request(static_cast<std::int64_t>(i), 0, static_cast<std::int64_t>(i + 1)));
  const auto totals = workload::WorkloadTotals::of(*std::make_unique<test::VectorStream>(rows));
  auto think = config::Document::load_string("think_time: {dist: uniform, min: 0 s, max: 2 s}\n", "w.yaml");
  workload::ClosedLoop loop(std::make_unique<test::VectorStream>(rows), totals, kClients,
                            workload::ThinkTime::parse(think.root()), 3);
  std::mt19937 rng(1);
  std::vector<std::int64_t> in_flight;
  std::size_t issued = 0;
  double now = 0;
  while (!loop.done()) {
    while (loop.next_time()) {
      const auto issue = loop.pop();
      // The k-th issued takes pool entry k and id k.
      REQUIRE(issue.request.id == static_cast<std::int64_t>(issued));
      REQUIRE(issue.request.prompt_tokens == static_cast<std::int64_t>(issued + 1));
      now = std::max(now, issue.time);
      in_flight.push_back(issue.request.id);
      ++issued;
      REQUIRE(loop.in_flight() == in_flight.size());
      REQUIRE(loop.in_flight() <= static_cast<std::size_t>(kClients));
    }
    if (in_flight.empty()) break;
    // Requests end in any order.
    const std::size_t k = std::uniform_int_distribution<std::size_t>(0, in_flight.size() - 1)(rng);
    now += 0.25;
    loop.on_end(in_flight[k], now);
    in_flight.erase(in_flight.begin() + static_cast<std::ptrdiff_t>(k));
  }
  CHECK(issued == kPool);
  CHECK(loop.done());
  for (const auto id : in_flight) loop.on_end(id, now);
  CHECK(loop.in_flight() == 0);
  CHECK_FALSE(loop.next_time());
  CHECK_THROWS_AS(loop.on_end(3, now), InvariantError);        // ended already
  CHECK_THROWS_AS(loop.on_end(static_cast<std::int64_t>(kPool) + 1, now), InvariantError);  // never issued
}
