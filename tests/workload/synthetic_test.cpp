#include <catch2/catch.hpp>

#include <cmath>
#include <map>

#include "sim/core/registry.hpp"
#include "support.hpp"
#include "workload/stream_support.hpp"
#include "workload/workload_source.hpp"

using namespace hetsim;

namespace {
std::vector<Request> requests_of(const std::string& yaml, std::uint64_t seed) {
  auto doc = config::Document::load_string(yaml, "w.yaml");
  auto src = Registry<workload::WorkloadSource>::instance().make(doc.root(), "", "source");
  doc.check_unknown_keys();
  return test::drain(src->open(seed));
}
struct GapStats {
  double mean = 0, cv = 0;
};
GapStats inter_arrival(const std::vector<Request>& rs) {
  std::vector<double> gaps;
  for (std::size_t i = 1; i < rs.size(); ++i) gaps.push_back(rs[i].arrival - rs[i - 1].arrival);
  double mean = 0, var = 0;
  for (double g : gaps) mean += g;
  mean /= static_cast<double>(gaps.size());
  for (double g : gaps) var += (g - mean) * (g - mean);
  var /= static_cast<double>(gaps.size());
  return {mean, std::sqrt(var) / mean};
}
}  // namespace

TEST_CASE("synthetic workload: Poisson arrivals have the requested rate and CV 1", "[workload][synthetic]") {
  const auto rs = requests_of("source: synthetic\nnum_requests: 20000\narrival: {rate: 5}\nprompt_tokens: 100\noutput_tokens: 10\n", 7);
  REQUIRE(rs.size() == 20000);
  const auto gaps = inter_arrival(rs);
  CHECK(gaps.mean == Approx(0.2).epsilon(0.03));
  CHECK(gaps.cv == Approx(1.0).epsilon(0.05));
  CHECK(rs[0].prompt_tokens == 100);
}

TEST_CASE("synthetic workload: gamma arrivals reach the requested burstiness", "[workload][synthetic]") {
  const auto rs = requests_of(
      "source: synthetic\nnum_requests: 20000\narrival: {process: gamma, rate: 2, cv: 3}\nprompt_tokens: 1\noutput_tokens: 1\n", 3);
  const auto gaps = inter_arrival(rs);
  CHECK(gaps.mean == Approx(0.5).epsilon(0.08));
  CHECK(gaps.cv == Approx(3.0).epsilon(0.1));
}

TEST_CASE("synthetic workload: a swinging rate keeps its mean and puts the expected share of arrivals near the peak",
          "[workload][synthetic]") {
  // rate(t) = 5 (1 + a cos(2 pi (t - 250) / 1000)), a = (4 - 1) / (4 + 1) = 0.6, over 20 periods.
  const auto rs = requests_of(
      "source: synthetic\nduration: 20000 s\narrival: {rate: 5, swing: {period: 1000 s, peak_to_trough: 4, peak_at: 250 s}}\n"
      "prompt_tokens: 1\noutput_tokens: 1\n",
      11);
  // The mean rate stays 5/s: 100,000 arrivals expected (Poisson: standard deviation 316).
  CHECK(static_cast<double>(rs.size()) == Approx(100000).margin(1600));
  // The half period centred on the peak holds 1/2 + a/pi of them, the other 1/2 - a/pi.
  double near_peak = 0;
  for (const Request& r : rs) {
    const double phase = std::fmod(r.arrival, 1000.0);  // the peak at 250: [0, 500) is centred on it
    near_peak += phase < 500 ? 1 : 0;
  }
  const double a = 0.6, pi = 3.14159265358979;
  CHECK(near_peak / static_cast<double>(rs.size()) == Approx(0.5 + a / pi).epsilon(0.01));
  // Arrivals stay in order, and without a swing the stream is the one it always was.
  for (std::size_t i = 1; i < rs.size(); ++i) REQUIRE(rs[i].arrival >= rs[i - 1].arrival);
  const auto flat = requests_of("source: synthetic\nnum_requests: 50\narrival: {rate: 5}\nprompt_tokens: 1\noutput_tokens: 1\n", 11);
  const auto zero = requests_of(
      "source: synthetic\nnum_requests: 50\narrival: {rate: 5, swing: {period: 1000 s, peak_to_trough: 1}}\nprompt_tokens: 1\n"
      "output_tokens: 1\n",
      11);
  for (std::size_t i = 0; i < flat.size(); ++i) CHECK(flat[i].arrival == zero[i].arrival);
}

TEST_CASE("synthetic workload: length distributions and determinism", "[workload][synthetic]") {
  const std::string yaml =
      "source: synthetic\nnum_requests: 5000\narrival: {rate: 1}\n"
      "prompt_tokens: {dist: lognormal, median: 1000, sigma: 0.5, max: 4000}\n"
      "output_tokens: {dist: uniform, min: 10, max: 20}\n";
  const auto a = requests_of(yaml, 11);
  const auto b = requests_of(yaml, 11);
  const auto c = requests_of(yaml, 12);
  REQUIRE(a.size() == b.size());
  bool same = true, differs = false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    same = same && a[i].arrival == b[i].arrival && a[i].prompt_tokens == b[i].prompt_tokens;
    differs = differs || a[i].prompt_tokens != c[i].prompt_tokens;
  }
  CHECK(same);
  CHECK(differs);
  std::vector<std::int64_t> prompts;
  for (const auto& r : a) {
    CHECK(r.output_tokens >= 10);
    CHECK(r.output_tokens <= 20);
    CHECK(r.prompt_tokens <= 4000);
    prompts.push_back(r.prompt_tokens);
  }
  std::nth_element(prompts.begin(), prompts.begin() + 2500, prompts.end());
  CHECK(static_cast<double>(prompts[2500]) == Approx(1000).epsilon(0.05));
}

TEST_CASE("synthetic workload: empirical lengths sampled from a CSV column", "[workload][synthetic]") {
  test::TempDir dir("empirical");
  dir.write("lengths.csv", "n,other\n7,x\n9,y\n");
  const auto rs = requests_of("source: synthetic\nnum_requests: 200\narrival: {rate: 1}\n"
                           "prompt_tokens: {dist: empirical, file: " + dir.file("lengths.csv") + ", column: n}\n"
                           "output_tokens: 3\n", 1);
  bool seen7 = false, seen9 = false;
  for (const auto& r : rs) {
    REQUIRE((r.prompt_tokens == 7 || r.prompt_tokens == 9));
    seen7 = seen7 || r.prompt_tokens == 7;
    seen9 = seen9 || r.prompt_tokens == 9;
  }
  CHECK((seen7 && seen9));
}

TEST_CASE("synthetic workload: config errors name the key path", "[workload][synthetic]") {
  REQUIRE_THROWS_WITH(requests_of("source: synthetic\nnum_requests: 10\narrival: {rate: -1}\nprompt_tokens: 5\noutput_tokens: 5\n", 1),
                      Catch::Contains("w.yaml:3: arrival.rate = -1"));
  REQUIRE_THROWS_WITH(requests_of("source: synthetic\nnum_requests: 10\narrival: {rate: 1}\nprompt_tokens: {dist: normal}\noutput_tokens: 5\n", 1),
                      Catch::Contains("prompt_tokens.dist = normal"));
  REQUIRE_THROWS_WITH(requests_of("source: synthetic\narrival: {rate: 1}\nprompt_tokens: 5\noutput_tokens: 5\n", 1),
                      Catch::Contains("num_requests"));
  REQUIRE_THROWS_WITH(requests_of("source: synthetc\n", 1), Catch::Contains("did you mean 'synthetic'"));
}

TEST_CASE("synthetic workload: a closed loop draws the same lengths as the open loop, without arrival times",
          "[workload][synthetic]") {
  const std::string lengths = "num_requests: 300\nprompt_tokens: {dist: uniform, min: 1, max: 5000}\noutput_tokens: "
                              "{dist: lognormal, median: 100, sigma: 1}\n";
  const auto open = requests_of("source: synthetic\narrival: {rate: 3}\n" + lengths, 5);
  const auto closed = requests_of("source: synthetic\nconcurrency: 8\n" + lengths, 5);
  REQUIRE(open.size() == closed.size());
  for (std::size_t i = 0; i < open.size(); ++i) {
    INFO(i);
    CHECK(closed[i].prompt_tokens == open[i].prompt_tokens);
    CHECK(closed[i].output_tokens == open[i].output_tokens);
    CHECK(closed[i].arrival == 0);  // issue times come from the simulation
    CHECK(closed[i].id == static_cast<std::int64_t>(i));
  }
}

TEST_CASE("synthetic workload: closed-loop config errors name the key and what to give instead", "[workload][synthetic]") {
  REQUIRE_THROWS_WITH(requests_of("source: synthetic\nconcurrency: 4\nnum_requests: 10\narrival: {rate: 1}\nprompt_tokens: 5\n"
                               "output_tokens: 5\n", 1),
                      Catch::Contains("w.yaml:4: arrival = <map>") && Catch::Contains("closed-loop clients"));
  REQUIRE_THROWS_WITH(requests_of("source: synthetic\nconcurrency: 4\nduration: 60 s\nprompt_tokens: 5\noutput_tokens: 5\n", 1),
                      Catch::Contains("duration = 60 s") && Catch::Contains("give num_requests"));
  REQUIRE_THROWS_WITH(requests_of("source: synthetic\nconcurrency: 4\nprompt_tokens: 5\noutput_tokens: 5\n", 1),
                      Catch::Contains("missing required key 'num_requests'"));
}

TEST_CASE("synthetic workload: shared prefixes go before a fraction of the prompts, by Zipf popularity",
          "[workload][synthetic][prefix]") {
  const std::string base = "source: synthetic\nnum_requests: 20000\narrival: {rate: 5}\nprompt_tokens: 100\noutput_tokens: 10\n";
  const auto rs = requests_of(base + "shared_prefix: {groups: 10, tokens: 1000, fraction: 0.4, popularity: zipf, zipf_s: 1.0}\n", 7);
  std::map<std::uint64_t, int> by_group;  // first id -> requests
  int with = 0;
  for (const auto& r : rs) {
    if (r.hash_ids.empty()) {
      REQUIRE(r.prompt_tokens == 100);  // no prefix: the drawn prompt alone
      continue;
    }
    ++with;
    REQUIRE(r.prompt_tokens == 1100);  // the prefix, then the drawn prompt
    REQUIRE(r.hash_tokens == 1000);    // the ids describe the prefix only
    REQUIRE(static_cast<std::int64_t>(r.hash_ids.size()) * r.hash_block_tokens >= 1000);
    ++by_group[r.hash_ids.front()];
  }
  CHECK(with == Approx(8000).epsilon(0.04));
  REQUIRE(by_group.size() == 10);
  // Zipf s = 1 over 10 groups: the most popular holds 1 / H(10) = 34% of them, the least 3.4%.
  std::vector<int> counts;
  for (const auto& [id, n] : by_group) counts.push_back(n);
  CHECK(counts.front() == Approx(0.3414 * with).epsilon(0.06));
  CHECK(counts.back() == Approx(0.03414 * with).epsilon(0.2));
  // The lengths and arrivals are those of the same workload without prefixes.
  const auto plain = requests_of(base, 7);
  for (std::size_t i = 0; i < rs.size(); ++i) REQUIRE(rs[i].arrival == plain[i].arrival);
}
