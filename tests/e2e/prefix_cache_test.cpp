// Prefix caching end to end (policies/kv_cache/prefix_caching.cpp): requests that share prompt
// prefixes (workload.shared_prefix, Mooncake hash_ids) compute only their uncached tokens.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {

struct Run {
  std::vector<std::map<std::string, std::string>> requests, steps;
  nlohmann::json summary;
};

/// Llama-3-8B on one H100, 400 requests, each with one of `groups` 2,048-token prefixes before its
/// own 100-600 tokens: the same lengths however many groups there are.
std::string shared_prefix_scenario(const test::TempDir& dir, const std::string& kv, int groups) {
  return dir.write(fmt::format("scenario_{}.yaml", groups),
                   fmt::format("model: llama-3-8b\ncluster: {{device: h100-sxm5-80gb, replicas: 1}}\n"
                               "policies:\n  kv_cache: {}\n"
                               "workload:\n  source: synthetic\n  num_requests: 400\n  arrival: {{rate: 8}}\n"
                               "  prompt_tokens: {{dist: uniform, min: 100, max: 600}}\n"
                               "  output_tokens: {{dist: uniform, min: 20, max: 200}}\n"
                               "  shared_prefix: {{groups: {}, tokens: 2048}}\n",
                               kv, groups));
}

Run run(const std::string& scenario, const test::TempDir& dir, const std::string& out, const std::string& extra = "") {
  auto r = test::run_hetsim("run --quiet '" + scenario + "' --out '" + dir.file(out) + "' --set output.steps=full " + extra);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return {test::read_csv(dir.file(out + "/requests.csv")), test::read_csv(dir.file(out + "/steps.csv")),
          nlohmann::json::parse(test::read_file(dir.file(out + "/summary.json")))};
}

std::int64_t column_sum(const std::vector<std::map<std::string, std::string>>& rows, const char* key) {
  std::int64_t sum = 0;
  for (const auto& r : rows) sum += std::stoll(r.at(key));
  return sum;
}

}  // namespace

TEST_CASE("prefix cache: as the hit rate rises, prefill tokens and TTFT fall, and tokens are conserved", "[e2e][prefix]") {
  const std::string impl = GENERATE("prefix_caching", "radix");
  INFO(impl);
  test::TempDir dir("prefix_rate_" + impl);
  double last_rate = -1, last_ttft = 1e9;
  std::int64_t last_prefill = INT64_MAX;
  std::int64_t first_prompts = -1;
  // Fewer distinct prefixes: more reuse. 400 groups for 400 requests leaves few repeats.
  for (int groups : {400, 64, 16, 2}) {
    INFO(groups << " groups");
    const Run r = run(shared_prefix_scenario(dir, "{impl: " + impl + "}", groups), dir, fmt::format("out_{}", groups));
    const auto& pc = r.summary.at("prefix_cache");
    const double rate = pc.at("hit_rate").get<double>();
    const std::int64_t hit = pc.at("hit_tokens").get<std::int64_t>();
    const std::int64_t prompts = column_sum(r.requests, "prompt_tokens");
    const std::int64_t prefilled = column_sum(r.steps, "prefill_tokens");
    REQUIRE(r.summary.at("preemptions").get<std::int64_t>() == 0);
    // Conservation: every prompt token is either computed or found cached, exactly once.
    CHECK(prefilled + hit == prompts);
    CHECK(pc.at("lookup_tokens").get<std::int64_t>() == prompts);
    // requests.csv's per-request figures add up to the run's.
    CHECK(column_sum(r.requests, "cached_tokens") == hit);
    CHECK(column_sum(r.steps, "prefix_hit_tokens") == hit);
    const double ttft = r.summary.at("latency_s").at("ttft").at("mean").get<double>();
    if (first_prompts < 0) first_prompts = prompts;
    CHECK(prompts == first_prompts);  // the same work, only its sharing differs
    CHECK(rate > last_rate);
    CHECK(prefilled < last_prefill);
    CHECK(ttft < last_ttft);
    last_rate = rate, last_prefill = prefilled, last_ttft = ttft;
  }
  // With two prefixes, all but the first few uses of each are found: most of the 2,048 tokens.
  CHECK(last_rate > 0.6);
}

TEST_CASE("prefix cache: the same workload without caching computes every prompt token and shows no cache keys",
          "[e2e][prefix]") {
  test::TempDir dir("prefix_off");
  const Run off = run(shared_prefix_scenario(dir, "{impl: paged}", 16), dir, "off");
  CHECK(column_sum(off.steps, "prefill_tokens") == column_sum(off.requests, "prompt_tokens"));
  CHECK_FALSE(off.summary.contains("prefix_cache"));
  CHECK_FALSE(off.requests.front().count("cached_tokens"));
  const Run on = run(shared_prefix_scenario(dir, "{impl: prefix_caching}", 16), dir, "on");
  CHECK(on.summary.at("latency_s").at("ttft").at("p90").get<double>() <
        off.summary.at("latency_s").at("ttft").at("p90").get<double>());
}

TEST_CASE("prefix cache: same scenario and seed give identical bytes, also under KV pressure", "[e2e][prefix]") {
  test::TempDir dir("prefix_det");
  // A small cache: evictions of cached blocks and recompute preemptions.
  const auto sc = shared_prefix_scenario(dir, "{impl: prefix_caching, gpu_memory_utilization: 0.3}", 16);
  const Run a = run(sc, dir, "a", "--set workload.arrival.rate=30");
  const Run b = run(sc, dir, "b", "--set workload.arrival.rate=30");
  for (const char* f : {"requests.csv", "steps.csv", "summary.json"}) {
    INFO(f);
    CHECK(test::read_file(dir.file(std::string("a/") + f)) == test::read_file(dir.file(std::string("b/") + f)));
  }
  CHECK(a.summary.at("prefix_cache").at("hit_tokens").get<std::int64_t>() > 0);
}

TEST_CASE("prefix cache: bad shared_prefix input exits 2 naming the key", "[e2e][prefix][errors]") {
  test::TempDir dir("prefix_bad");
  const auto sc = shared_prefix_scenario(dir, "{impl: prefix_caching}", 16);
  struct Case {
    std::string set, expect;
  };
  for (const Case& c : std::vector<Case>{{"workload.shared_prefix.groups=0", "workload.shared_prefix.groups"},
                                         {"workload.shared_prefix.fraction=1.5", "workload.shared_prefix.fraction"},
                                         {"workload.shared_prefix.popularity=pareto", "workload.shared_prefix.popularity"},
                                         {"workload.shared_prefix.zipf_s=2", "workload.shared_prefix.zipf_s"},
                                         {"policies.kv_cache.impl=prefix_cachin", "did you mean 'prefix_caching'"},
                                         {"policies.kv_cache.impl=radix --set policies.preemption.impl=swap",
                                          "policies.preemption: this preemption policy moves KV to another tier"}}) {
    INFO(c.set);
    const auto r = test::run_hetsim("run --quiet '" + sc + "' --out '" + dir.file("out") + "' --set " + c.set);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains(c.expect));
  }
}
