// Prefix caching end to end (policies/kv_cache/prefix_caching.cpp): requests that share prompt
// prefixes (workload.shared_prefix, Mooncake hash_ids) compute only their uncached tokens.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <map>
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

struct BadInput {
  std::string set, expect;
};

/// Each `--set` of `cases` makes `scenario` exit 2 with a message containing its expectation.
void expect_exit_2(const std::string& scenario, const test::TempDir& dir, const std::vector<BadInput>& cases) {
  for (const BadInput& c : cases) {
    INFO(c.set);
    const auto r = test::run_hetsim("run --quiet '" + scenario + "' --out '" + dir.file("out") + "' --set " + c.set);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains(c.expect));
  }
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
  expect_exit_2(sc, dir, {{"workload.shared_prefix.groups=0", "workload.shared_prefix.groups"},
                          {"workload.shared_prefix.fraction=1.5", "workload.shared_prefix.fraction"},
                          {"workload.shared_prefix.popularity=pareto", "workload.shared_prefix.popularity"},
                          {"workload.shared_prefix.zipf_s=2", "workload.shared_prefix.zipf_s"},
                          {"workload.shared_prefix.tokens=2000000", "workload.shared_prefix.tokens: a prefix of 2000000 tokens"},
                          {"policies.kv_cache.impl=prefix_cachin", "did you mean 'prefix_caching'"},
                          {"policies.kv_cache.impl=radix --set policies.preemption.impl=swap",
                           "policies.preemption: this preemption policy moves KV to another tier"}});
}

namespace {
constexpr double kLlama3KvBytesPerToken = 32 * 8 * 128 * 2 * 2;  // layers x KV heads x head dim x (K,V) x bf16

/// One H100 with 160 KV blocks (320 MiB) over host DRAM: prompt A (2,048 tokens), then B (1,024
/// other tokens) evicts A's last 32 blocks (they are in DRAM, written through), then A's prompt
/// again finds 96 blocks in device memory and loads 31 from DRAM (the hit stops at 127 blocks).
std::string offload_scenario(const test::TempDir& dir, const std::string& offload_extra) {
  dir.write("trace.jsonl", R"({"timestamp": 0, "input_length": 2048, "output_length": 1, "hash_ids": [1, 2, 3, 4]}
{"timestamp": 10000, "input_length": 1024, "output_length": 1, "hash_ids": [11, 12]}
{"timestamp": 20000, "input_length": 2048, "output_length": 1, "hash_ids": [1, 2, 3, 4]}
)");
  return dir.write("offload.yaml",
                   "model: llama-3-8b\ncluster: {device: h100-sxm5-80gb, replicas: 1}\n"
                   "policies:\n  kv_cache: {impl: prefix_caching, kv_cache_memory: 320 MiB, offload: {tiers: [{tier: host.dram, "
                   "capacity: 1 GiB}], write: write_through" + offload_extra + "}}\n"
                   "workload: {source: mooncake, file: trace.jsonl}\n");
}
}  // namespace

TEST_CASE("prefix cache offload: a hit in host DRAM loads over PCIe at bytes / bandwidth + latency + setup, never faster",
          "[e2e][prefix][offload]") {
  test::TempDir dir("prefix_offload");
  const Run batched = run(offload_scenario(dir, ""), dir, "batched");
  const Run pieces = run(offload_scenario(dir, ", per_piece: 5 us"), dir, "pieces");
  double load_time[2];
  for (int k = 0; k < 2; ++k) {
    const Run& r = k == 0 ? batched : pieces;
    int loads = 0;
    for (const auto& s : r.steps) {
      if (std::stoll(s.at("prefix_loaded_tokens")) == 0) {
        CHECK(std::stod(s.at("swap_in_tokens")) == 0);
        continue;
      }
      ++loads;
      CHECK(std::stoll(s.at("prefix_loaded_tokens")) == 31 * 16);
      CHECK(std::stoll(s.at("swap_in_tokens")) == 31 * 16);
      // B's prompt, written through in the background: the load does not wait for it (the other
      // direction of every link), and A's evicted blocks were in DRAM already (no copy out).
      CHECK(std::stoll(s.at("swap_out_tokens")) == 1024);
      load_time[k] = std::stod(s.at("transfer_s"));
    }
    CHECK(loads == 1);
    CHECK(std::stoll(r.requests.at(2).at("cached_tokens")) == 127 * 16);
  }
  // Default node: the H100's PCIe Gen5 x16 host link, 64 GB/s, 2 us; a batched copy costs one
  // 5 us submission.
  const double bytes = 31 * 16 * kLlama3KvBytesPerToken;
  CHECK(load_time[0] == Approx(bytes / 64e9 + 2e-6 + 5e-6).epsilon(1e-6));
  // One submission per piece: 31 blocks x 2 x 32 layers pieces of 5 us more.
  CHECK(load_time[1] == Approx(bytes / 64e9 + 2e-6 + 5e-6 + 31 * 64 * 5e-6).epsilon(1e-6));
  // The per-tier figures: device, then host DRAM.
  const auto& tiers = batched.summary.at("prefix_cache").at("tiers");
  REQUIRE(tiers.size() == 2);
  CHECK(tiers[0].at("tier") == "device");
  CHECK(tiers[0].at("hit_tokens").get<std::int64_t>() == 96 * 16);
  CHECK(tiers[1].at("tier") == "host.dram");
  CHECK(tiers[1].at("hit_tokens").get<std::int64_t>() == 31 * 16);
  CHECK(tiers[1].at("written_tokens").get<std::int64_t>() > 0);
}

TEST_CASE("prefix cache offload: an idle peer GPU's HBM (Harvest) loads over NVLink, a replica's own GPU is refused",
          "[e2e][prefix][offload]") {
  test::TempDir dir("prefix_offload_peer");
  const std::string peer = "--set cluster.node=hgx-h100 --set 'policies.kv_cache.offload.tiers=[{tier: gpu7.hbm, capacity: 1 GiB}]'";
  const Run r = run(offload_scenario(dir, ""), dir, "peer", peer);
  int loads = 0;
  for (const auto& s : r.steps) {
    if (std::stoll(s.at("prefix_loaded_tokens")) == 0) continue;
    ++loads;
    CHECK(std::stoll(s.at("swap_in_tokens")) == 31 * 16);
    // gpu7 -> NVSwitch -> gpu0: 450 GB/s per direction, two 2 us hops (hw/nodes/hgx-h100.yaml), one 5 us submission.
    const double bytes = 31 * 16 * kLlama3KvBytesPerToken;
    CHECK(std::stod(s.at("transfer_s")) == Approx(bytes / 450e9 + 2 * 2e-6 + 5e-6).epsilon(1e-6));
  }
  CHECK(loads == 1);
  CHECK(r.summary.at("prefix_cache").at("tiers")[1].at("tier") == "gpu7.hbm");
  // gpu0 runs the replica: its memory is not a spare tier.
  expect_exit_2(offload_scenario(dir, ""), dir,
                {{"cluster.node=hgx-h100 --set 'policies.kv_cache.offload.tiers=[{tier: gpu0.hbm, capacity: 1 GiB}]'",
                  "gpu0.hbm is replica 0's device memory"}});
}

TEST_CASE("prefix cache offload: a tier stored in chunks is copied a chunk per piece", "[e2e][prefix][offload]") {
  test::TempDir dir("prefix_offload_chunks");
  const Run r = run(offload_scenario(dir, ", per_piece: 5 us"), dir, "chunks",
                    "--set 'policies.kv_cache.offload.tiers=[{tier: host.dram, capacity: 1 GiB, chunk_tokens: 256}]'");
  int loads = 0;
  for (const auto& s : r.steps) {
    if (std::stoll(s.at("prefix_loaded_tokens")) == 0) continue;
    ++loads;
    // 31 blocks = 496 tokens: two 256-token chunks, one submission each (not 31 x 64 pieces).
    const double bytes = 31 * 16 * kLlama3KvBytesPerToken;
    CHECK(std::stod(s.at("transfer_s")) == Approx(bytes / 64e9 + 2e-6 + 5e-6 + 2 * 5e-6).epsilon(1e-6));
  }
  CHECK(loads == 1);
}

TEST_CASE("prefix cache offload: bad offload input exits 2 naming the key", "[e2e][prefix][offload][errors]") {
  test::TempDir dir("prefix_offload_bad");
  const auto sc = offload_scenario(dir, "");
  expect_exit_2(sc, dir, {{"'policies.kv_cache.offload.tiers=[{tier: nvme9, capacity: 1 GiB}]'", "has no such tier"},
                          {"'policies.kv_cache.offload.tiers=[{tier: gpu0.hbm, capacity: 1 GiB}]'", "expected a non-HBM tier"},
                          {"'policies.kv_cache.offload.tiers=[]'", "policies.kv_cache.offload.tiers"},
                          {"'policies.kv_cache.offload.tiers=[{tier: host.dram, capacity: 1 KiB}]'", "at least one KV block"},
                          {"'policies.kv_cache.offload.tiers=[{tier: host.dram, capacity: 10 TB}]' --set cluster.node=hgx-h100",
                           "more than host.dram holds"},
                          {"policies.kv_cache.offload.write=sometimes", "policies.kv_cache.offload.write"},
                          {"policies.kv_cache.offload.load=never", "policies.kv_cache.offload.load"},
                          {"'policies.kv_cache.offload.per_piece=-1 us'", "policies.kv_cache.offload.per_piece"},
                          {"'policies.kv_cache.offload.tiers=[{tier: host.dram, capacity: 1 GiB, chunk_tokens: 0}]'", "chunk_tokens"}});
}

TEST_CASE("prefix cache sessions: each turn finds the whole previous turn cached, prompt and output", "[e2e][prefix][sessions]") {
  test::TempDir dir("prefix_sessions");
  // Few short conversations on one H100: nothing is ever evicted.
  const auto sc = dir.write("sessions.yaml",
                            "model: llama-3-8b\ncluster: {device: h100-sxm5-80gb, replicas: 1}\n"
                            "policies:\n  kv_cache: {impl: prefix_caching}\n"
                            "workload:\n  source: sessions\n  sessions: 30\n  arrival: {rate: 1}\n  turns: 3\n"
                            "  new_tokens: {dist: uniform, min: 50, max: 400}\n  output_tokens: {dist: uniform, min: 20, max: 200}\n"
                            "  think_time: 2 s\n");
  const Run r = run(sc, dir, "out");
  REQUIRE(r.requests.size() == 90);
  std::map<std::int64_t, std::map<int, const std::map<std::string, std::string>*>> turns;
  for (const auto& q : r.requests) turns[std::stoll(q.at("session"))][std::stoi(q.at("turn"))] = &q;
  REQUIRE(turns.size() == 30);
  for (const auto& [s, t] : turns) {
    REQUIRE(t.size() == 3);
    CHECK(std::stoll(t.at(0)->at("cached_tokens")) == 0);
    for (int k = 1; k < 3; ++k) {
      const auto& prev = *t.at(k - 1);
      const auto& cur = *t.at(k);
      // The previous turn computed its prompt and all but its last output token: every full
      // block of those is found (the next prompt starts with exactly them).
      const std::int64_t computed = std::stoll(prev.at("prompt_tokens")) + std::stoll(prev.at("output_tokens")) - 1;
      CHECK(std::stoll(cur.at("cached_tokens")) == computed / 16 * 16);
      // Sent 2 s after the previous turn completed.
      CHECK(std::stod(cur.at("arrival_s")) == Approx(std::stod(prev.at("completion_s")) + 2.0).margin(1e-9));
      CHECK(std::stod(cur.at("think_s")) == 2.0);
    }
  }
  CHECK(r.summary.at("prefix_cache").at("hit_rate").get<double>() > 0.4);
}

TEST_CASE("sessions: bad sessions input exits 2 naming the key", "[e2e][sessions][errors]") {
  test::TempDir dir("sessions_bad");
  const auto sc = dir.write("sessions.yaml",
                            "model: llama-3-8b\ncluster: {device: h100-sxm5-80gb, replicas: 1}\n"
                            "workload:\n  source: sessions\n  sessions: 3\n  arrival: {rate: 1}\n  turns: 3\n"
                            "  new_tokens: 100\n  output_tokens: 10\n  think_time: 2 s\n");
  expect_exit_2(sc, dir, {{"workload.concurrency=4", "workload.concurrency"},
                          {"workload.sessions=0", "workload.sessions"},
                          {"workload.system_prompt=-1", "workload.system_prompt"},
                          {"workload.turns=0", "workload.turns"},
                          {"workload.turns=5000", "workload.turns: a session of 5000 turns; expected at most 1000"},
                          {"workload.new_tokens=600000", "a conversation reached"},
                          {"'workload.think_time={dist: exponential}'", "workload.think_time"},
                          {"workload.arrival.rate=0", "workload.arrival.rate"}});
}

namespace {
/// Two H100 replicas on one HGX node and a KV store node on the same leaf switch, round-robin
/// routing: prompt A on replica 0 is written through to the store; the same prompt 10 s later
/// on replica 1 finds nothing in its own HBM and loads 127 blocks from the store over the NICs.
std::string store_scenario(const test::TempDir& dir, const std::string& offload_extra, const std::string& name = "store.yaml",
                           const std::string& node = "  node: hgx-h100\n",
                           const std::string& fabric = "  fabric: {kind: fat_tree, nodes_per_leaf: 2, uplink_bandwidth: 800 Gbps, latency: 1 us}\n") {
  dir.write("trace.jsonl", R"({"timestamp": 0, "input_length": 2048, "output_length": 1, "hash_ids": [1, 2, 3, 4]}
{"timestamp": 10000, "input_length": 2048, "output_length": 1, "hash_ids": [1, 2, 3, 4]}
)");
  return dir.write(name,
                   "model: llama-3-8b\n"
                   "cluster:\n  device: h100-sxm5-80gb\n" + node + "  replicas: 2\n"
                   "  kv_stores: [{name: kvstore, node: kv-store-node}]\n" + fabric +
                   "policies:\n  router: {impl: round_robin}\n"
                   "  kv_cache: {impl: prefix_caching, offload: {tiers: [{store: kvstore, capacity: 10 GiB}], "
                   "write: write_through" + offload_extra + "}}\n"
                   "workload: {source: mooncake, file: trace.jsonl}\n");
}
}  // namespace

TEST_CASE("kv store node: one replica's prefill is another's hit, loaded over the NICs at bytes / bottleneck + latency",
          "[e2e][prefix][offload][store]") {
  test::TempDir dir("prefix_store");
  const Run before = run(store_scenario(dir, ""), dir, "before");
  const Run layerwise = run(store_scenario(dir, ", load_overlap: layerwise"), dir, "layerwise");
  REQUIRE(before.requests.size() == 2);
  CHECK(std::stoll(before.requests.at(0).at("cached_tokens")) == 0);
  CHECK(std::stoll(before.requests.at(1).at("cached_tokens")) == 127 * 16);
  CHECK(before.requests.at(0).at("replica") != before.requests.at(1).at("replica"));
  const auto& tiers = before.summary.at("prefix_cache").at("tiers");
  REQUIRE(tiers.size() == 2);
  CHECK(tiers[1].at("tier") == "kvstore/host.dram");
  CHECK(tiers[1].at("shared") == true);
  // 10 GiB of whole-model KV (128 KiB per token): 5,120 blocks, counted once for both replicas.
  CHECK(tiers[1].at("capacity_blocks").get<std::int64_t>() == 5120);
  CHECK(tiers[1].at("hit_tokens").get<std::int64_t>() == 127 * 16);
  CHECK(tiers[0].at("hit_tokens").get<std::int64_t>() == 0);
  // The loading step: 127 blocks from the store's DRAM through its NIC, the leaf switch and
  // the GPU's NIC (400 Gb/s each: 50 GB/s binds); latency 100 ns DRAM + 1 us per NIC; one 5 us setup.
  const double bytes = 127 * 16 * kLlama3KvBytesPerToken;
  const double load = bytes / 50e9 + 2.1e-6 + 5e-6;
  double compute = 0, duration_before = 0;
  int loads = 0;
  for (const auto& s : before.steps) {
    if (std::stoll(s.at("prefix_loaded_tokens")) == 0) continue;
    ++loads;
    CHECK(std::stod(s.at("transfer_s")) == Approx(load).epsilon(1e-6));
    duration_before = std::stod(s.at("duration_s"));
    compute = duration_before - std::stod(s.at("transfer_s"));
  }
  REQUIRE(loads == 1);
  // Layer by layer: layer i computes once its KV is in, so the step takes max(all but the last
  // layer, the load) + the last layer (32 layers), never less than either alone.
  loads = 0;
  for (const auto& s : layerwise.steps) {
    if (std::stoll(s.at("prefix_loaded_tokens")) == 0) continue;
    ++loads;
    const double d = std::stod(s.at("duration_s"));
    CHECK(d == Approx(std::max(compute * 31 / 32, load) + compute / 32).epsilon(1e-6));
    CHECK(d >= std::max(compute, load) - 1e-12);
    CHECK(d < duration_before);
  }
  REQUIRE(loads == 1);
  // kv_tiers.csv adds up to the summary: hits and writes per tier, lookups per instance once.
  const auto rows = test::read_csv(dir.file("before/kv_tiers.csv"));
  REQUIRE_FALSE(rows.empty());
  std::map<std::string, std::int64_t> hits, written;
  std::int64_t lookups = 0;
  for (const auto& r : rows) {
    hits[r.at("tier")] += std::stoll(r.at("hit_tokens"));
    written[r.at("tier")] += std::stoll(r.at("written_tokens"));
    if (r.at("tier") == "device") lookups += std::stoll(r.at("lookup_tokens"));
    CHECK(std::stoll(r.at("used_blocks")) + std::stoll(r.at("cached_blocks")) <= std::stoll(r.at("capacity_blocks")));
    CHECK(r.at("shared") == (r.at("tier") == "kvstore/host.dram" ? "1" : "0"));
  }
  for (const auto& t : tiers) {
    CHECK(hits[t.at("tier").get<std::string>()] == t.at("hit_tokens").get<std::int64_t>());
    CHECK(written[t.at("tier").get<std::string>()] == t.at("written_tokens").get<std::int64_t>());
  }
  CHECK(lookups == before.summary.at("prefix_cache").at("lookup_tokens").get<std::int64_t>());
}

TEST_CASE("kv store node: behind a private DRAM tier, the store gets blocks only when written through to it",
          "[e2e][prefix][offload][store]") {
  test::TempDir dir("prefix_store_through");
  const auto sc = store_scenario(dir, "");
  const Run on_eviction = run(sc, dir, "on_eviction",
                              "--set 'policies.kv_cache.offload.tiers=[{tier: host.dram, capacity: 1 GiB}, {store: kvstore, capacity: 10 GiB}]'");
  const Run through = run(sc, dir, "through",
                          "--set 'policies.kv_cache.offload.tiers=[{tier: host.dram, capacity: 1 GiB}, {store: kvstore, capacity: 10 GiB, "
                          "write_through: true}]'");
  // Replica 0's blocks stay in its HBM and DRAM (nothing is evicted): replica 1 finds them only in the store.
  CHECK(std::stoll(on_eviction.requests.at(1).at("cached_tokens")) == 0);
  CHECK(std::stoll(through.requests.at(1).at("cached_tokens")) == 127 * 16);
  const auto& tiers = through.summary.at("prefix_cache").at("tiers");
  REQUIRE(tiers.size() == 3);
  // Both tiers get A's 128 blocks; B computes its last block itself, which its DRAM gets and the store holds already.
  CHECK(tiers[1].at("written_tokens").get<std::int64_t>() == 128 * 16 + 16);
  CHECK(tiers[2].at("written_tokens").get<std::int64_t>() == 128 * 16);
  CHECK(tiers[2].at("hit_tokens").get<std::int64_t>() == 127 * 16);
}

TEST_CASE("kv store node: bad store input exits 2 naming the key", "[e2e][prefix][offload][store][errors]") {
  test::TempDir dir("prefix_store_bad");
  const auto sc = store_scenario(dir, "");
  expect_exit_2(sc, dir,
                {{"'policies.kv_cache.offload.tiers=[{store: kvstor, capacity: 1 GiB}]'", "expected a KV store of cluster.kv_stores: kvstore"},
                 {"'policies.kv_cache.offload.tiers=[{store: kvstore, tier: nvme0, capacity: 1 GiB}]'", "has no such tier"},
                 {"'policies.kv_cache.offload.tiers=[{store: kvstore, capacity: 3 TB}]'", "more than host.dram of KV store 'kvstore' holds"},
                 {"'policies.kv_cache.offload.tiers=[{capacity: 1 GiB}]'", "policies.kv_cache.offload.tiers[0].tier"},
                 {"'cluster.kv_stores=[{name: a/b, node: kv-store-node}]'", "cluster.kv_stores[0].name = a/b"},
                 {"'cluster.kv_stores=[{name: s, node: kv-store-node}, {name: s, node: kv-store-node}]'", "must be unique"},
                 {"'cluster.kv_stores=[]' --set 'policies.kv_cache.offload.tiers=[{store: kvstore, capacity: 1 GiB}]'",
                  "the cluster has no KV store nodes"},
                 {"cluster.node=kv-store-node", "no tier of kind hbm"},
                 {"'policies.kv_cache.offload.tiers=[{store: kvstore, capacity: 1 GiB, eviction: mru}]'", "eviction"},
                 {"'policies.kv_cache.offload.tiers=[{store: kvstore, capacity: 1 GiB, ttl: -1 s}]'", "ttl"},
                 {"policies.kv_cache.offload.load_overlap=sometimes", "policies.kv_cache.offload.load_overlap"},
                 {"'policies.kv_cache.offload.tiers=[{store: kvstore, capacity: 1 GiB, write_through: maybe}]'", "write_through"},
                 {"'policies.kv_cache.ttl=0 s'", "policies.kv_cache.ttl"}});
  // Without a fabric, or on the default node (no NICs), the store is out of reach.
  expect_exit_2(store_scenario(dir, "", "no_fabric.yaml", "  node: hgx-h100\n", ""), dir, {{"seed=1", "give cluster.fabric"}});
  expect_exit_2(store_scenario(dir, "", "no_node.yaml", ""), dir, {{"seed=1", "cannot reach KV store 'kvstore'"}});
}

namespace {
/// Llama-3-8B on one H100: 300 RAG requests (a 256-token system prompt, 6 of 300 documents'
/// 512-token chunks by Zipf popularity, then a short question), little KV pressure.
std::string rag_scenario(const test::TempDir& dir, const std::string& kv) {
  return dir.write("rag_" + std::to_string(std::hash<std::string>{}(kv)) + ".yaml",
                   "model: llama-3-8b\ncluster: {device: h100-sxm5-80gb, replicas: 1}\n"
                   "policies:\n  kv_cache: " + kv + "\n"
                   "workload:\n  source: synthetic\n  num_requests: 300\n  arrival: {rate: 3}\n"
                   "  prompt_tokens: {dist: uniform, min: 20, max: 120}\n  output_tokens: {dist: uniform, min: 20, max: 100}\n"
                   "  rag: {documents: 300, chunk_tokens: 512, chunks: 6, popularity: zipf, system_prompt: 256}\n");
}
}  // namespace

TEST_CASE("cacheblend: on RAG prompts it reuses chunks prefix caching cannot, and prefill tokens and TTFT fall",
          "[e2e][prefix][cacheblend]") {
  test::TempDir dir("rag");
  const Run paged = run(rag_scenario(dir, "{impl: paged}"), dir, "paged");
  const Run prefix = run(rag_scenario(dir, "{impl: prefix_caching}"), dir, "prefix");
  const Run blend = run(rag_scenario(dir, "{impl: cacheblend}"), dir, "blend");
  // Same requests: 256 + 6 x 512 context tokens before each question.
  REQUIRE(paged.requests.size() == 300);
  for (std::size_t i = 0; i < 300; ++i) {
    CHECK(paged.requests[i].at("prompt_tokens") == blend.requests[i].at("prompt_tokens"));
    CHECK(std::stoll(paged.requests[i].at("prompt_tokens")) >= 256 + 6 * 512 + 20);
  }
  const std::int64_t prompts = column_sum(paged.requests, "prompt_tokens");
  CHECK(column_sum(paged.steps, "prefill_tokens") == prompts);
  // Prefix caching finds the system prompt, and a chunk only behind the same leading chunk.
  const std::int64_t prefix_cached = column_sum(prefix.requests, "cached_tokens");
  CHECK(column_sum(prefix.steps, "prefill_tokens") == prompts - prefix_cached);
  // CacheBlend finds chunks anywhere; it recomputes 15% of the blended ones (rounded up per request).
  const std::int64_t blend_cached = column_sum(blend.requests, "cached_tokens");
  CHECK(blend_cached > 2 * prefix_cached);
  const std::int64_t blend_prefill = column_sum(blend.steps, "prefill_tokens");
  CHECK(blend_prefill >= prompts - blend_cached);
  CHECK(blend_prefill <= prompts - blend_cached + static_cast<std::int64_t>(0.15 * static_cast<double>(blend_cached)) + 300);
  CHECK(blend.summary.at("preemptions").get<std::int64_t>() == 0);
  const auto ttft = [](const Run& r) { return r.summary.at("latency_s").at("ttft").at("mean").get<double>(); };
  CHECK(ttft(blend) < ttft(prefix));
  CHECK(ttft(prefix) < ttft(paged));
}

TEST_CASE("rag workload: bad rag input exits 2 naming the key", "[e2e][prefix][cacheblend][errors]") {
  test::TempDir dir("rag_bad");
  const auto sc = rag_scenario(dir, "{impl: cacheblend}");
  expect_exit_2(sc, dir,
                {{"workload.rag.chunk_tokens=500", "workload.rag.chunk_tokens = 500: expected a multiple of 16"},
                 {"workload.rag.system_prompt=10", "workload.rag.system_prompt"},
                 {"workload.rag.chunks=400", "workload.rag.chunks = 400: expected at most documents (300)"},
                 {"workload.rag.documents=0", "workload.rag.documents"},
                 {"workload.rag.chunks=1024 --set workload.rag.documents=2000 --set workload.rag.chunk_tokens=4096",
                  "expected at most 1048576"},
                 {"'workload.shared_prefix={groups: 2, tokens: 100}'", "give either rag"},
                 {"workload.rag.popularity=pareto", "workload.rag.popularity"},
                 {"policies.kv_cache.recompute_ratio=2", "policies.kv_cache.recompute_ratio"},
                 {"'policies.kv_cache.offload={tiers: [{tier: host.dram, capacity: 1 GiB}], load: when_faster}'",
                  "cacheblend loads every reused chunk"}});
}

TEST_CASE("kv store and cacheblend: same scenario and seed give identical bytes, kv_tiers.csv included",
          "[e2e][prefix][store][cacheblend]") {
  test::TempDir dir("store_det");
  // A store smaller than the two replicas' HBM under load (evictions, synchronous copies out,
  // layer-wise loads, LFU ageing, TTL expiries), and CacheBlend on RAG prompts over DRAM.
  const auto store = dir.write(
      "store.yaml",
      "model: llama-3-8b\ncluster:\n  device: h100-sxm5-80gb\n  node: hgx-h100\n  replicas: 2\n"
      "  kv_stores: [{name: kvstore, node: kv-store-node}]\n"
      "  fabric: {kind: fat_tree, nodes_per_leaf: 2, uplink_bandwidth: 800 Gbps, latency: 1 us}\n"
      "policies:\n  kv_cache: {impl: prefix_caching, gpu_memory_utilization: 0.3, ttl: 30 s, offload: {tiers: [{store: kvstore, "
      "capacity: 4 GiB, eviction: lfu, ttl: 20 s}], write: write_through, load_overlap: layerwise}}\n"
      "workload:\n  source: sessions\n  sessions: 40\n  arrival: {rate: 2}\n  turns: 4\n"
      "  new_tokens: {dist: uniform, min: 200, max: 2000}\n  output_tokens: {dist: uniform, min: 20, max: 200}\n"
      "  think_time: {dist: exponential, mean: 10 s}\n");
  const auto rag = rag_scenario(dir, "{impl: cacheblend, gpu_memory_utilization: 0.25, offload: {tiers: [{tier: host.dram, capacity: 2 GiB}], load_overlap: layerwise}}");
  for (const std::string& sc : {store, rag}) {
    INFO(sc);
    const Run a = run(sc, dir, "a");
    const Run b = run(sc, dir, "b");
    for (const char* f : {"requests.csv", "steps.csv", "summary.json", "kv_tiers.csv"}) {
      INFO(f);
      CHECK(test::read_file(dir.file(std::string("a/") + f)) == test::read_file(dir.file(std::string("b/") + f)));
    }
    const auto& tiers = a.summary.at("prefix_cache").at("tiers");
    REQUIRE(tiers.size() == 2);
    CHECK(tiers[1].at("hit_tokens").get<std::int64_t>() > 0);
    CHECK(tiers[1].at("evicted_blocks").get<std::int64_t>() + tiers[1].at("expired_blocks").get<std::int64_t>() > 0);
  }
}
