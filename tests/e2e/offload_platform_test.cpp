// Op offload over the platform (`offload: {link: platform}`): each step's offload traffic runs as
// flows between the GPUs and a tier of their node (the host DRAM, the nearest NVMe drive), and the
// offloaded ops on that tier's one engine. On an idle node a replica's steps take exactly the
// analytic link's time; replicas of one node that offload at the same time share the host, the
// drives and the PCIe uplinks, by the analytic amount where it is known.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {

// NEO with all KV on the host (every decode sends its queries down and its attention back) on an
// HGX H100 node: GPUs 0 and 1 sit behind one PCIe switch with one Gen5 x16 uplink (64 GB/s) to the
// host DRAM; each hop 1 us and the DRAM 100 ns (hw/nodes/hgx-h100.yaml), so 2.1 us per route.
constexpr double kRouteBandwidth = 64e9, kRouteLatency = 2.1e-6;
constexpr const char* kNeoOnNode = R"(
model: llama-3.1-8b
cluster:
  device: h100-sxm5-80gb
  node: hgx-h100
  replicas: 2
  offload: {impl: neo, gpu_kv: false, pipelining: none, link: platform}
workload: {source: synthetic, concurrency: 2, think_time: 0 s, num_requests: 2, prompt_tokens: 1024, output_tokens: 6}
output: {steps: full}
)";

using Rows = std::vector<std::map<std::string, std::string>>;

Rows run_steps(const test::TempDir& dir, const std::string& scenario, const std::string& out, const std::string& sets = "") {
  const auto r = test::run_hetsim(fmt::format("run --quiet '{}' --out '{}' {}", scenario, dir.file(out), sets));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return test::read_csv(dir.file(out + "/steps.csv"));
}
double num(const std::map<std::string, std::string>& row, const char* column) { return std::stod(row.at(column)); }

void same_durations(const Rows& a, const Rows& b) {
  REQUIRE(a.size() == b.size());
  REQUIRE_FALSE(a.empty());
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO("step row " << i);
    CHECK(num(a[i], "duration_s") == Approx(num(b[i], "duration_s")).epsilon(1e-9));
  }
}

}  // namespace

TEST_CASE("offload on the platform: one replica on an idle node takes the analytic link's time", "[e2e][offload][platform]") {
  test::TempDir dir("offload_platform_idle");
  const std::string neo = dir.write("neo.yaml", kNeoOnNode);
  const std::string one = "--set cluster.replicas=1 --set workload.concurrency=1 --set workload.num_requests=1";
  const std::string analytic = fmt::format("--set 'cluster.offload.link={{bandwidth: {:g} GB/s, latency: {:g} us}}'",
                                           kRouteBandwidth / 1e9, kRouteLatency * 1e6);
  // The sides taking turns: the GPU's compute, then the flows and the host's attention after it.
  same_durations(run_steps(dir, neo, "flows", one), run_steps(dir, neo, "analytic", one + " " + analytic));
  // Pipelined sub-batches: the flows and the host's attention run beside the GPU's layers.
  const std::string pipelined = " --set cluster.offload.pipelining=ping_pong --set workload.concurrency=16 "
                                "--set workload.num_requests=32 --set cluster.replicas=1 --set workload.output_tokens=32";
  const Rows flows = run_steps(dir, neo, "pp_flows", pipelined);
  same_durations(flows, run_steps(dir, neo, "pp_analytic", pipelined + " " + analytic));
  CHECK(std::any_of(flows.begin(), flows.end(), [](const auto& r) { return num(r, "offload_s") > 0; }));

  // A layer range split (llama.cpp's -ngl) on the default node, whose one host link per device is
  // the GPU's own (the offload link's default): the same steps either way.
  const std::string split = dir.write("split.yaml", R"(
model: llama-3.1-8b
cluster:
  device: rtx-4090-24gb
  offload: {impl: layers, gpu_layers: 20, stream_at: 32}
workload: {source: synthetic, concurrency: 4, think_time: 0 s, num_requests: 12, prompt_tokens: 300, output_tokens: 16}
output: {steps: full}
)");
  const Rows split_flows = run_steps(dir, split, "split_flows", "--set cluster.offload.link=platform");
  same_durations(split_flows, run_steps(dir, split, "split_analytic"));
  CHECK(std::any_of(split_flows.begin(), split_flows.end(), [](const auto& r) { return num(r, "offload_streamed_bytes") > 0; }));
}

TEST_CASE("offload on the platform: two replicas of one node share its host and PCIe uplink, by the analytic amount",
          "[e2e][offload][platform]") {
  test::TempDir dir("offload_platform_shared");
  const std::string neo = dir.write("neo.yaml", kNeoOnNode);
  // Replicas 0 and 1 take one request each, the same shape, so their steps start together. Each
  // step's bytes go down both GPUs' routes at once and share the uplink (half its bandwidth each),
  // then both host attentions share the host (each twice as long), then the bytes come back the
  // same way; the per-crossing latencies beyond the flows' own are charged as their setup, at the
  // shared bandwidth too. So a shared step takes the lone step plus one more of each:
  //   offload_s + link_bytes / 64 GB/s + (2 L - flows) x 2.1 us   (L = 32 layers).
  const Rows alone = run_steps(dir, neo, "alone", "--set cluster.replicas=1 --set workload.concurrency=1 --set workload.num_requests=1");
  const Rows shared = run_steps(dir, neo, "shared");
  REQUIRE(shared.size() == 2 * alone.size());
  for (std::size_t i = 0; i < alone.size(); ++i) {
    INFO("step " << i);
    const auto& a = alone[i];
    for (const auto& s : {shared[2 * i], shared[2 * i + 1]}) {
      CHECK(num(s, "start_s") == Approx(num(shared[2 * i], "start_s")).epsilon(1e-12));  // in lockstep
      REQUIRE(num(s, "offload_link_bytes") == num(a, "offload_link_bytes"));
      const bool prefill = num(a, "prefill_tokens") > 0;  // a prefill's new KV goes down; nothing comes back
      const double flows = prefill ? 1 : 2;
      const double extra = num(a, "offload_s") + num(a, "offload_link_bytes") / kRouteBandwidth + (2 * 32 - flows) * kRouteLatency;
      CHECK(num(s, "duration_s") == Approx(num(a, "duration_s") + extra).epsilon(1e-9));
    }
  }
  // The analytic link prices each replica as if it had the host and the link to itself.
  const Rows analytic = run_steps(dir, neo, "analytic",
                                  fmt::format("--set 'cluster.offload.link={{bandwidth: {:g} GB/s, latency: {:g} us}}'",
                                              kRouteBandwidth / 1e9, kRouteLatency * 1e6));
  for (std::size_t i = 0; i < analytic.size(); ++i)
    CHECK(num(analytic[i], "duration_s") == Approx(num(alone[i / 2], "duration_s")).epsilon(1e-9));
  // Same scenario, same bytes: deterministic.
  run_steps(dir, neo, "shared_again");
  CHECK(test::read_file(dir.file("shared/steps.csv")) == test::read_file(dir.file("shared_again/steps.csv")));
}

TEST_CASE("offload on the platform: the replicas of a node split its host DRAM for their KV", "[e2e][offload][platform]") {
  test::TempDir dir("offload_platform_dram");
  // Four Llama-3-70B TP2 instances fill an HGX H100 node, whose host has 2 TB of DRAM: 500 GB of
  // KV each (less than their two Xeons' catalog memory), 250 GB per GPU beside the GPU's own.
  const std::string neo = dir.write("neo70.yaml", R"(
model: llama-3-70b
cluster:
  device: h100-sxm5-80gb
  node: hgx-h100
  tensor_parallel: 2
  replicas: 4
  offload: {impl: neo, count: 2, link: platform}
workload: {source: synthetic, concurrency: 8, think_time: 0 s, num_requests: 8, prompt_tokens: 128, output_tokens: 4}
)");
  auto usable = [&](const std::string& out, const std::string& sets) {
    const auto r = test::run_hetsim(fmt::format("run --quiet '{}' --out '{}' {}", neo, dir.file(out), sets));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    return nlohmann::json::parse(test::read_file(dir.file(out + "/summary.json")))["memory"][0]["usable_bytes"].get<double>();
  };
  const double gpu = usable("gpu", "--set cluster.offload.impl=none");
  CHECK(usable("shared", "") - gpu == Approx(2e12 / 4 / 2).epsilon(1e-12));
  // More than the host holds for four: exit 2 naming the key.
  const auto r = test::run_hetsim(fmt::format("run --quiet '{}' --out '{}' --set cluster.offload.kv_memory=600GB", neo, dir.file("big")));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("cluster.offload.kv_memory") && Contains("4 replicas") && Contains("host.dram"));
}

TEST_CASE("offload on the platform: FlexGen's KV on the NVMe drive nearest each instance, shared behind one PCIe switch",
          "[e2e][offload][platform]") {
  test::TempDir dir("offload_platform_ssd");
  // The KV only stored on a drive and read back every decode step (FlexGen): on an HGX H100 node
  // each instance takes the NVMe drive behind its GPUs' PCIe switch (nvme0 for GPUs 0-1, nvme1 for
  // GPUs 2-3), which reads 13 GB/s and writes 6.6 GB/s (hw/nodes/hgx-h100.yaml).
  const std::string flexgen = dir.write("flexgen.yaml", R"(
model: {preset: llama-2-13b, precision: fp16}
cluster:
  device: h100-sxm5-80gb
  node: hgx-h100
  replicas: 2
  offload: {impl: flexgen, link: platform}
workload: {source: synthetic, concurrency: 16, think_time: 0 s, num_requests: 16, prompt_tokens: 2048, output_tokens: 8}
output: {steps: full, step_detail: true}
)");
  const auto run = [&](const std::string& out, const std::string& sets) {
    const auto r = test::run_hetsim(fmt::format("run --quiet '{}' --out '{}' {}", flexgen, dir.file(out), sets));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    return std::pair{test::read_csv(dir.file(out + "/steps.csv")),
                     nlohmann::json::parse(test::read_file(dir.file(out + "/summary.json")))};
  };
  const auto [alone, alone_summary] = run("alone", "--set cluster.replicas=1 --set workload.concurrency=8 --set workload.num_requests=8");
  const auto& link = alone_summary["memory"][0]["kv_link"];
  CHECK(link["source"].get<std::string>().find("nvme0") != std::string::npos);
  CHECK(link["contended"].get<bool>());
  // Each way as the route has it: writes capped by the drive, reads by it too (1 MiB requests).
  CHECK(link["bandwidth_bytes_per_s"].get<double>() < link["back_bandwidth_bytes_per_s"].get<double>());
  CHECK(link["back_bandwidth_bytes_per_s"].get<double>() < 13e9);
  // Alone, each step takes its priced time (vLLM v1's host work adds to the device's): the drive's
  // I/O time hides the route's latencies, and the link is priced so.
  for (const auto& r : alone) CHECK(num(r, "duration_s") == Approx(num(r, "gpu_s") + num(r, "host_s")).epsilon(1e-9));
  // Two instances behind one switch read the KV from one drive: each decode step about twice as long.
  const auto [shared, shared_summary] = run("shared", "--set workload.concurrency=16 --set workload.num_requests=16");
  REQUIRE(shared.size() == 2 * alone.size());
  std::size_t decodes = 0;
  for (std::size_t i = 0; i < alone.size(); ++i)
    if (num(alone[i], "decode_seqs") > 0) {
      ++decodes;
      CHECK(num(shared[2 * i], "duration_s") > 1.8 * num(alone[i], "duration_s"));
    }
  CHECK(decodes > 3);
  // TP2 instances sit behind different switches (GPUs 0-1 and 2-3): each has its own drive, and
  // runs as alone.
  const auto [apart, apart_summary] = run("apart", "--set cluster.tensor_parallel=2 --set workload.concurrency=16 --set workload.num_requests=16");
  const auto [apart_alone, apart_alone_summary] =
      run("apart_alone", "--set cluster.tensor_parallel=2 --set cluster.replicas=1 --set workload.concurrency=8 --set workload.num_requests=8");
  REQUIRE(apart.size() == 2 * apart_alone.size());
  for (std::size_t i = 0; i < apart_alone.size(); ++i)
    CHECK(num(apart[2 * i + 1], "duration_s") == Approx(num(apart_alone[i], "duration_s")).epsilon(1e-9));
}

TEST_CASE("offload on the platform: offload sides off the node's host exit 2 naming the key", "[e2e][offload][platform]") {
  test::TempDir dir("offload_platform_bad");
  auto fails = [&](const std::string& name, const std::string& yaml) {
    const auto r = test::run_hetsim("run --quiet '" + dir.write(name + ".yaml", yaml) + "' --out '" + dir.file(name) + "'");
    CHECK(r.exit_code == 2);
    return r.output;
  };
  // Lamina's attention pool is reached over a NIC, not placed on a node of the platform.
  CHECK_THAT(fails("lamina", R"(
model: llama-3.1-8b
cluster: {device: h100-sxm5-80gb, offload: {impl: lamina, link: platform}}
workload: {source: synthetic, num_requests: 2}
)"),
             Contains("cluster.offload.link") && Contains("platform") && Contains("h20-96gb"));
  // An instance of 16 GPUs spans two nodes: which host would it offload to?
  CHECK_THAT(fails("spanning", R"(
model: llama-3-70b
cluster:
  device: h100-sxm5-80gb
  node: hgx-h100
  tensor_parallel: 16
  fabric: {kind: rail, uplink_bandwidth: 400 Gbps, latency: 2 us}
  offload: {impl: neo, link: platform}
workload: {source: synthetic, num_requests: 2}
)"),
             Contains("cluster.offload") && Contains("link: platform") && Contains("spanning nodes"));
  CHECK_THAT(fails("typo", R"(
model: llama-3.1-8b
cluster: {device: h100-sxm5-80gb, offload: {impl: neo, link: platforms}}
workload: {source: synthetic, num_requests: 2}
)"),
             Contains("cluster.offload.link = platforms") && Contains("'platform'"));
  // A tier without link: platform, a GPU's HBM, a kind the node lacks, two drives per instance.
  CHECK_THAT(fails("tier_no_platform", R"(
model: llama-3.1-8b
cluster: {device: h100-sxm5-80gb, offload: {impl: neo, tier: host.dram}}
workload: {source: synthetic, num_requests: 2}
)"),
             Contains("cluster.offload.tier") && Contains("link: platform"));
  CHECK_THAT(fails("tier_hbm", R"(
model: llama-3.1-8b
cluster: {device: h100-sxm5-80gb, node: hgx-h100, offload: {impl: neo, link: platform, tier: gpu7.hbm}}
workload: {source: synthetic, num_requests: 2}
)"),
             Contains("cluster.offload.tier") && Contains("gpu7.hbm") && Contains("HBM"));
  CHECK_THAT(fails("tier_kind", R"(
model: {preset: llama-2-13b, precision: fp16}
cluster: {device: h100-sxm5-80gb, node: hgx-h100, offload: {impl: instinfer, link: platform}}
workload: {source: synthetic, num_requests: 2}
)"),
             Contains("cluster.offload.link") && Contains("no csd tier") && Contains("nvme0"));
  CHECK_THAT(fails("two_drives", R"(
model: llama-3.1-8b
cluster: {device: h100-sxm5-80gb, node: hgx-h100, offload: {impl: flexgen, link: platform, count: 2}}
workload: {source: synthetic, num_requests: 2}
)"),
             Contains("cluster.offload.count") && Contains("ssd"));
}

TEST_CASE("offload on the platform: NEO pays for one instance of a node and not for four sharing its host",
          "[e2e][offload][platform]") {
  // The shipped sweep (README "Attention offload"): per instance count, the GPUs alone, NEO priced
  // as if each instance had a host of its own, and NEO sharing the node's host over the platform.
  test::TempDir dir("offload_platform_sweep");
  const auto r = test::run_hetsim(fmt::format("sweep '{}/sweeps/neo_shared_host.yaml' --quiet --out '{}'", test::source_dir(),
                                              dir.file("sweep")));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  // Each point's summary (points.csv quotes the link's map, which test::read_csv does not parse).
  std::vector<nlohmann::json> points;
  for (int i = 0; i < 9; ++i)
    points.push_back(nlohmann::json::parse(test::read_file(dir.file(fmt::format("sweep/points/p{:04d}/summary.json", i)))));
  auto tps = [&](std::size_t i) { return points[i]["throughput"]["output_tokens_per_s"].get<double>(); };
  for (std::size_t at = 0; at < 9; at += 3) {
    INFO("point " << at);
    CHECK(tps(at + 1) > 1.5 * tps(at));                // each with its own host, NEO pays
    CHECK(tps(at + 2) <= tps(at + 1) * (1 + 1e-12));   // sharing never helps
  }
  CHECK(tps(2) == Approx(tps(1)).epsilon(1e-12));  // one instance: nothing to share
  CHECK(tps(5) > tps(3));                          // two instances: NEO still pays, less
  CHECK(tps(5) < 0.75 * tps(4));
  CHECK(tps(8) < tps(6));                          // four: the GPUs alone are faster
  CHECK(points[6]["preemptions"].get<std::int64_t>() > 0);
  CHECK(points[8]["preemptions"].get<std::int64_t>() == 0);
}
