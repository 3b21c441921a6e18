// Multi-turn sessions (workload/sessions.hpp): each turn's prompt is the conversation so far, and
// a session's next turn goes out its think time after the previous one ended.
#include <catch2/catch.hpp>

#include <map>

#include "sim/core/registry.hpp"
#include "workload/arrivals.hpp"
#include "workload/sessions.hpp"
#include "workload/stream_support.hpp"
#include "workload/workload_source.hpp"

using namespace hetsim;

namespace {
const char* kSessions =
    "source: sessions\nsessions: 50\narrival: {rate: 2}\nturns: {dist: uniform, min: 2, max: 6}\n"
    "new_tokens: {dist: uniform, min: 10, max: 300}\noutput_tokens: {dist: uniform, min: 5, max: 200}\n"
    "think_time: {dist: exponential, mean: 3 s}\nsystem_prompt: 128\n";

struct Built {
  config::Document doc;
  std::unique_ptr<workload::WorkloadSource> source;
  explicit Built(const std::string& yaml) : doc(config::Document::load_string(yaml, "w.yaml")) {
    source = Registry<workload::WorkloadSource>::instance().make(doc.root(), "", "source");
  }
};
}  // namespace

TEST_CASE("sessions: each turn's prompt is the conversation so far, and its ids describe it with the output",
          "[workload][sessions]") {
  Built b(kSessions);
  b.doc.check_unknown_keys();
  const auto rs = test::drain(b.source->open(3));
  std::map<std::int64_t, std::vector<Request>> by_session;
  for (const auto& r : rs) by_session[r.session].push_back(r);
  REQUIRE(by_session.size() == 50);
  for (const auto& [s, turns] : by_session) {
    REQUIRE(turns.size() >= 2);
    REQUIRE(turns.size() <= 6);
    for (std::size_t k = 0; k < turns.size(); ++k) {
      const Request& t = turns[k];
      CHECK(t.turn == static_cast<int>(k));
      CHECK(t.hash_tokens == t.prompt_tokens + t.output_tokens);
      CHECK(static_cast<std::int64_t>(t.hash_ids.size()) == (t.hash_tokens + 63) / 64);
      if (k == 0) {
        CHECK(t.prompt_tokens > 128);  // the system prompt, then the first message
        CHECK(t.think == 0);
        continue;
      }
      const Request& prev = turns[k - 1];
      const std::int64_t history = prev.prompt_tokens + prev.output_tokens;
      CHECK(t.prompt_tokens > history);
      CHECK(t.prompt_tokens <= history + 300);
      // The same ids wherever the conversations agree: all of the previous turn's stream.
      for (std::int64_t u = 0; u < history / 64; ++u)
        REQUIRE(t.hash_ids[static_cast<std::size_t>(u)] == prev.hash_ids[static_cast<std::size_t>(u)]);
      CHECK(t.think >= 0);
    }
  }
  // The system prompt's two whole 64-token units are every session's; the rest is each one's own.
  CHECK(by_session[0][0].hash_ids[1] == by_session[1][0].hash_ids[1]);
  CHECK(by_session[0][0].hash_ids[2] != by_session[1][0].hash_ids[2]);
}

TEST_CASE("sessions: a turn goes out its think time after the previous one ends, never before",
          "[workload][sessions]") {
  Built b(kSessions);
  const auto totals = workload::WorkloadTotals::of(*b.source->open(3));
  const auto all = test::drain(b.source->open(3));
  auto arrivals = workload::make_arrivals(b.doc.root(), b.source->open(3), totals, 3);
  CHECK(arrivals->reacts_to_ends());
  CHECK(arrivals->sessions());
  // Every issued turn ends 1.5 s after it goes out; ends are fed back in time order.
  std::multimap<double, std::int64_t> ends;
  std::map<std::int64_t, std::pair<double, int>> last;  // session -> (end of its last turn, turn)
  std::size_t issued = 0;
  double clock = 0;
  while (!arrivals->done()) {
    const auto next = arrivals->next_time();
    if (next && (ends.empty() || *next <= ends.begin()->first)) {
      REQUIRE(*next >= clock);
      clock = *next;
      const workload::Issue i = arrivals->pop();
      REQUIRE(i.request.id == static_cast<std::int64_t>(issued));
      ++issued;
      if (i.request.turn > 0) {
        const auto& [end, turn] = last.at(i.request.session);
        CHECK(turn == i.request.turn - 1);
        CHECK(i.time == Approx(end + i.request.think).margin(1e-12));  // exactly its think time after
        CHECK(i.think == i.request.think);
      }
      ends.emplace(i.time + 1.5, i.request.id);
      last[i.request.session] = {i.time + 1.5, i.request.turn};
      continue;
    }
    REQUIRE_FALSE(ends.empty());
    clock = ends.begin()->first;
    arrivals->on_end(ends.begin()->second, ends.begin()->first);
    ends.erase(ends.begin());
  }
  CHECK(issued == all.size());
  CHECK(issued == totals.requests);
}
