// End-to-end tests through the hetsim binary (each run is its own process).
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace hetsim;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {
std::string quickstart() { return test::source_dir() + "/scenarios/quickstart.yaml"; }

/// Every case's hetsim arguments exit 2 with its expected text and never an internal error.
template <class Case>
void expect_input_errors(const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    INFO(c.args);
    const auto r = test::run_hetsim(c.args);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains(c.expect));
    CHECK_THAT(r.output, !Contains("internal error"));
  }
}
}  // namespace

TEST_CASE("cli: every serving scenario in scenarios/ runs and writes complete results", "[e2e]") {
  int count = 0;
  for (const auto& entry : fs::directory_iterator(test::source_dir() + "/scenarios")) {
    if (entry.path().extension() != ".yaml") continue;
    // Training and replay scenarios write other results: tests/e2e/training_cli_test.cpp runs every
    // train_*.yaml, tests/e2e/replay_cli_test.cpp every replay_*.yaml.
    if (entry.path().filename().string().starts_with("train_")) continue;
    if (entry.path().filename().string().starts_with("replay_")) continue;
    ++count;
    INFO(entry.path().string());
    test::TempDir out("scenario");
    const auto r = test::run_hetsim("run '" + entry.path().string() + "' --out '" + out.str() + "'");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    for (const char* f : {"requests.csv", "summary.json", "resolved.yaml"}) CHECK(fs::exists(out.file(f)));
    for (const auto& f : fs::directory_iterator(out.str())) CHECK(f.path().extension() != ".tmp");
    CHECK_THAT(r.output, Contains("TTFT (ms)") && Contains("completed"));
    // The resolved configuration is itself a valid scenario.
    const auto again = test::run_hetsim("validate '" + out.file("resolved.yaml") + "'");
    INFO(again.output);
    CHECK(again.exit_code == 0);
  }
  CHECK(count >= 3);
}

TEST_CASE("cli: same scenario and seed give byte-identical outputs, another seed differs", "[e2e][determinism]") {
  test::TempDir a("det_a"), b("det_b"), c("det_c");
  const std::string args = " --set output.timeline=true --set workload.num_requests=150 --set output.step_window=0.5s";
  REQUIRE(test::run_hetsim("run '" + quickstart() + "' --quiet --out '" + a.str() + "'" + args).exit_code == 0);
  REQUIRE(test::run_hetsim("run '" + quickstart() + "' --quiet --out '" + b.str() + "'" + args).exit_code == 0);
  REQUIRE(test::run_hetsim("run '" + quickstart() + "' --quiet --seed 99 --out '" + c.str() + "'" + args).exit_code == 0);
  for (const char* f : {"requests.csv", "step_windows.csv", "summary.json", "resolved.yaml", "timeline.json"}) {
    INFO(f);
    const auto text = test::read_file(a.file(f));
    CHECK(!text.empty());
    CHECK(text == test::read_file(b.file(f)));
  }
  CHECK(test::read_file(a.file("requests.csv")) != test::read_file(c.file("requests.csv")));
}

TEST_CASE("cli: the timeline is a Chrome trace with one track per replica", "[e2e]") {
  test::TempDir out("timeline");
  REQUIRE(test::run_hetsim("run '" + quickstart() + "' --quiet --set output.timeline=true --set output.steps=full "
                           "--set workload.num_requests=20 --out '" +
                           out.str() + "'")
              .exit_code == 0);
  const auto text = test::read_file(out.file("timeline.json"));
  const auto parsed = nlohmann::json::parse(text);  // throws (fails the test) if not valid JSON
  CHECK(parsed["traceEvents"].size() > 2);
  CHECK_THAT(text, Contains("\"traceEvents\"") && Contains("\"ph\":\"X\"") && Contains("replica 1 (h100-sxm5-80gb)"));
  const auto steps = test::read_csv(out.file("steps.csv"));
  std::size_t spans = 0;
  for (std::size_t pos = 0; (pos = text.find("\"ph\":\"X\"", pos)) != std::string::npos; ++pos) ++spans;
  CHECK(spans == steps.size());
}

TEST_CASE("cli: validate, list and help", "[e2e]") {
  auto v = test::run_hetsim("validate '" + quickstart() + "'");
  CHECK(v.exit_code == 0);
  CHECK_THAT(v.output, Contains("OK") && Contains("400 requests"));
  auto l = test::run_hetsim("list");
  CHECK(l.exit_code == 0);
  CHECK_THAT(l.output, Contains("vllm") && Contains("sarathi") && Contains("round_robin") && Contains("least_outstanding") &&
                           Contains("paged") && Contains("azure") && Contains("mooncake") && Contains("h100-sxm5-80gb") &&
                           Contains("qwen2.5-7b"));
  for (const char* cmd : {"--help", "run --help", "validate --help", "list --help"}) {
    auto h = test::run_hetsim(cmd);
    CHECK(h.exit_code == 0);
    CHECK_THAT(h.output, Contains("Usage"));
  }
}

TEST_CASE("cli: list shows what a device and a model are chosen by, in aligned tables", "[e2e]") {
  const auto l = test::run_hetsim("list");
  REQUIRE(l.exit_code == 0);
  auto line_of = [&](const std::string& text, const std::string& start) {
    const auto at = text.find("\n  " + start + " ");
    REQUIRE(at != std::string::npos);
    return text.substr(at + 1, text.find('\n', at + 1) - at - 1);
  };
  // Hardware: kind, memory, bandwidth, 16-bit dense peak, calibration source; columns aligned.
  const auto header = line_of(l.output, "name  ");
  const auto h100 = line_of(l.output, "h100-sxm5-80gb");
  CHECK_THAT(header, Contains("kind") && Contains("memory") && Contains("bandwidth") && Contains("16-bit dense") &&
                         Contains("calibration"));
  CHECK_THAT(h100, Contains("gpu") && Contains("80 GB HBM3") && Contains("3.35 TB/s") && Contains("989.4 TFLOPS") &&
                       Contains("profile h100-vidur"));
  CHECK(h100.find("3.35 TB/s") == header.find("bandwidth"));
  CHECK(h100.find("profile h100-vidur") == header.find("calibration"));
  CHECK_THAT(line_of(l.output, "b200-192gb"), Contains("catalog default"));
  CHECK_THAT(line_of(l.output, "snapdragon-8-gen3"), Contains("soc") && Contains("(npu)") && Contains("ideal roofline"));
  // Models: parameters, layers, attention with KV heads, context.
  CHECK_THAT(line_of(l.output, "llama-3-8b"), Contains("8.03 B") && Contains(" 32 ") && Contains("GQA, 8 KV heads of 32") &&
                                                  Contains("8192 tokens"));
  CHECK_THAT(line_of(l.output, "llama-2-7b"), Contains("MHA, 32 heads") && Contains("4096 tokens"));
  CHECK_THAT(line_of(l.output, "qwen2.5-7b"), Contains("GQA, 4 KV heads of 28") && Contains("131072 tokens"));
  // Another profile (the catalog's, given by path) is named the same way.
  test::TempDir home("list_home");
  std::filesystem::create_directories(home.file("hw/catalog"));
  std::string entry = test::read_file(test::source_dir() + "/hw/catalog/h100-sxm5-80gb.yaml");
  const auto at = entry.find("\nprofile: ");
  REQUIRE(at != std::string::npos);
  entry.replace(at + 1, entry.find('\n', at + 1) - at - 1,
                "profile: " + test::fixture("calibrate/vidur-h100-codellama34b.yaml"));
  home.write("hw/catalog/h100-sxm5-80gb.yaml", entry);
  const auto cal = test::run_command("HETSIM_HOME='" + home.str() + "' '" + HETSIM_BIN + "' list");
  REQUIRE(cal.exit_code == 0);
  CHECK_THAT(line_of(cal.output, "h100-sxm5-80gb"), Contains("profile vidur-h100-codellama34b + catalog default"));
}

TEST_CASE("cli: bad input exits 2 with one clear message", "[e2e][errors]") {
  test::TempDir dir("bad");
  struct Case {
    std::string args, expect;
  };
  const std::string scen = dir.write("typo.yaml", test::read_file(quickstart()) + "polices:\n  router: {impl: round_robin}\n");
  const auto base = test::read_file(quickstart());
  const auto typo_line = std::count(base.begin(), base.end(), '\n') + 1;
  const std::vector<Case> cases = {
      {"run '" + scen + "'", fmt::format("typo.yaml:{}: polices: unknown key 'polices'; did you mean 'policies'?", typo_line)},
      {"run '" + quickstart() + "' --set policies.scheduler.impl=sarthi", "did you mean 'sarathi'"},
      {"run '" + quickstart() + "' --set cluster.replicas=0", "cluster.replicas = 0: expected an integer >= 1"},
      {"run '" + quickstart() + "' --set cluster.replicas=30001",
       "cluster.replicas = 30001: expected at most 30000 replicas in all pools (30001 with this one"},
      {"run '" + quickstart() + "' --set 'cluster.device.memory.bandwidth=3 TB/x'", "unknown unit 'TB/x'"},
      {"run '" + quickstart() + "' --set workload.source=azure --set workload.file=/nonexistent.csv", "no such file"},
      {"run '" + dir.str() + "/missing.yaml'", "cannot open file"},
      // Names longer than the OS allows in a path are "no such ...", not a filesystem_error (a fuzz finding).
      {"run '" + quickstart() + "' --set workload.source=azure --set workload.file=/" + std::string(5000, 'x'), "no such file"},
      {"run '" + quickstart() + "' --set model=" + std::string(5000, 'm'), "no such entry"},
      {"run '" + quickstart() + "' --sed 3", "--sed"},
      {"run '" + quickstart() + "' --seed minus", "minus"},
      {"frobnicate", "subcommand"},
      {"run '" + quickstart() + "' --set model=llama-3-70b --set policies.kv_cache.gpu_memory_utilization=0.5",
       "no KV block fits"},
  };
  expect_input_errors(cases);
}

TEST_CASE("cli: a fleet of the most replicas the validator accepts runs", "[e2e][scale]") {
  // 30,000 replicas (kMaxReplicas) are 30,000 actors: this guards the limit against anything that
  // adds memory maps per replica (a run aborts near 32,650 when each stack takes two). ~5 s.
  test::TempDir out("replica_limit");
  const auto r = test::run_hetsim("run '" + quickstart() + "' --quiet --out '" + out.str() +
                                  "' --set cluster.replicas=30000 --set workload.num_requests=60");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(!test::read_file(out.file("summary.json")).empty());
}

TEST_CASE("cli: malformed scenario files exit 2 naming the file and line", "[e2e][errors]") {
  test::TempDir dir("badfile");
  const auto base = test::read_file(quickstart());
  const auto lines = std::count(base.begin(), base.end(), '\n');
  struct Case {
    std::string args, expect;
  };
  const std::string dup = dir.write("dup.yaml", base + "seed: 77\n");
  const std::string two = dir.write("two.yaml", base + "---\nseed: 77\n");
  const std::string listkey = dir.write("listkey.yaml", base + "? [a, b]\n: 1\n");
  const std::string binary = dir.write("binary.yaml", std::string("name: x\n\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 20));
  const std::vector<Case> cases = {
      {"run '" + dup + "'", fmt::format("dup.yaml:{}: seed: duplicate key", lines + 1)},
      {"validate '" + dup + "'", fmt::format("dup.yaml:{}: seed: duplicate key", lines + 1)},
      {"run '" + two + "'", fmt::format("two.yaml:{}: a second YAML document", lines + 2)},
      {"run '" + listkey + "'", fmt::format("listkey.yaml:{}: a list used as a map key", lines + 1)},
      {"run '" + dir.str() + "'", dir.str() + ": is a directory"},
      {"run '" + binary + "'", "binary.yaml:2: not a UTF-8 text file"},
  };
  expect_input_errors(cases);
}

TEST_CASE("cli: flags and names that would be misread are refused", "[e2e][errors]") {
  test::TempDir dir("badflag");
  struct Case {
    std::string args, expect;
  };
  const std::vector<Case> cases = {
      {"run '" + quickstart() + "' --seed -5", "--seed = -5: expected a non-negative integer"},
      {"run '" + quickstart() + "' --seed 1.5", "--seed = 1.5: expected a non-negative integer"},
      {"validate '" + quickstart() + "' --seed -5", "--seed = -5: expected a non-negative integer"},
      {"run '" + quickstart() + "' --set name=../..", "--set name = \"../..\": expected letters, digits"},
      {"run '" + quickstart() + "' --set name=/tmp/x", "--set name = \"/tmp/x\""},
      {"run '" + quickstart() + "' --set name=a/b", "--set name = \"a/b\""},
      {"run '" + quickstart() + "' --set 'name=\"\"'", "--set name = \"\": expected"},
      {"run '" + quickstart() + "' --set name=.hidden", "not starting with '.'"},
      {"run '" + quickstart() + "' --set 'name=\"a\\tb\"'", "--set name = \"a\\tb\""},
      {"validate '" + quickstart() + "' --set name=../..", "--set name = \"../..\""},
      {"run '" + quickstart() + "' --set serving.max_model_len=100000",
       "--set serving.max_model_len = 100000: expected at most the model's max_position_embeddings (8192"},
      {"validate '" + quickstart() + "' --set serving.max_model_len=100000", "max_position_embeddings (8192"},
      {"frobnicate", "frobnicate"},
  };
  for (const auto& c : cases) {
    INFO(c.args);
    const bool is_run = c.args.rfind("run ", 0) == 0;
    const auto r = test::run_hetsim(c.args + (is_run ? " --out '" + dir.file("out") + "'" : std::string()));
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains(c.expect));
    CHECK_THAT(r.output, !Contains("internal error"));
  }
  CHECK_FALSE(fs::exists(dir.file("out")));
  // A plain safe name still works, and seed 0 is a seed.
  const auto ok = test::run_hetsim("validate '" + quickstart() + "' --seed 0 --set name=my-run_2.b");
  INFO(ok.output);
  CHECK(ok.exit_code == 0);
}

TEST_CASE("cli: hetsim_bench --help prints its usage", "[e2e]") {
  const auto bench = fs::path(HETSIM_BIN).parent_path() / "hetsim_bench";  // built beside hetsim
  const auto r = test::run_command("'" + bench.string() + "' --help");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("Usage: hetsim_bench") && Contains("--no-files"));
  CHECK_THAT(r.output, !Contains("trace not found"));
}

TEST_CASE("cli: a run that fails leaves no result files behind", "[e2e][errors]") {
  test::TempDir dir("atomic");
  const std::string bad_trace = dir.write("t.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,10,5\nbroken\n");
  const auto r = test::run_hetsim("run '" + quickstart() + "' --set workload.source=azure --set 'workload.file=" + bad_trace +
                                  "' --out '" + dir.file("out") + "'");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("t.csv:3"));
  CHECK_FALSE(fs::exists(dir.file("out/summary.json")));
  CHECK_FALSE(fs::exists(dir.file("out/requests.csv")));
  // An output path that is a file is reported, not half-written.
  const std::string blocker = dir.write("blocker", "x");
  const auto r2 = test::run_hetsim("run '" + quickstart() + "' --out '" + blocker + "/sub'");
  CHECK(r2.exit_code == 2);
  CHECK_THAT(r2.output, Contains("cannot create folder"));
}

TEST_CASE("cli: a scenario without a name takes a safe one from its file name", "[e2e]") {
  test::TempDir dir("safe_name");
  const std::string file = dir.write("my scenario.yaml", R"(
model: llama-3-8b
cluster: {device: h100-sxm5-80gb}
workload: {source: synthetic, num_requests: 3, arrival: {process: poisson, rate: 1}, prompt_tokens: 10, output_tokens: 5}
)");
  const auto r = test::run_hetsim("run --quiet '" + file + "' --out '" + dir.file("out") + "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(test::read_file(dir.file("out/resolved.yaml")), Contains("name: my_scenario"));
}
