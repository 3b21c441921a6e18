#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "sim/core/config.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {
config::Document doc(const std::string& yaml) { return config::Document::load_string(yaml, "test.yaml"); }
}  // namespace

TEST_CASE("config: typed keys with defaults and ranges", "[config]") {
  auto d = doc("a:\n  n: 7\n  x: 0.5\n  flag: true\n  s: hello\n");
  auto a = d.root().child("a");
  CHECK(a.get<int>("n").in_range(1, 10).value() == 7);
  CHECK(a.get<double>("x").value() == 0.5);
  CHECK(a.get<bool>("flag").value());
  CHECK(a.get<std::string>("s").one_of({"hello", "bye"}).value() == "hello");
  CHECK(a.get<int>("absent").default_to(3).value() == 3);
  d.check_unknown_keys();
  CHECK(d.resolved()["a"]["absent"].as<int>() == 3);  // defaults are written to the resolved config
}

TEST_CASE("config: each rule's error names file, line, key path and value", "[config]") {
  auto d = doc("policies:\n  scheduler:\n    chunk_size: -5\n    impl: 12x\n    mode: fast\n");
  auto s = d.root().child("policies").child("scheduler");
  SECTION("range") {
    REQUIRE_THROWS_WITH(s.get<int>("chunk_size").in_range(1, 65536).value(),
                        Contains("test.yaml:3: policies.scheduler.chunk_size = -5") && Contains("[1, 65536]"));
  }
  SECTION("type") {
    REQUIRE_THROWS_WITH(s.get<int>("impl").value(), Contains("test.yaml:4: policies.scheduler.impl = 12x") &&
                                                         Contains("integer"));
  }
  SECTION("choice") {
    REQUIRE_THROWS_WITH(s.get<std::string>("mode").one_of({"slow", "steady"}).value(),
                        Contains("policies.scheduler.mode = fast") && Contains("\"slow\", \"steady\""));
  }
  SECTION("missing required key") {
    REQUIRE_THROWS_WITH(s.get<int>("max_num_seqs").required().value(),
                        Contains("test.yaml:2: policies.scheduler") && Contains("missing required key 'max_num_seqs'"));
  }
  SECTION("quantity") {
    auto q = doc("memory:\n  bandwidth: 3 TB/x\n");
    REQUIRE_THROWS_WITH(q.root().child("memory").quantity("bandwidth", units::Dim::bandwidth).value(),
                        Contains("test.yaml:2: memory.bandwidth = 3 TB/x") && Contains("unknown unit"));
  }
}

TEST_CASE("config: unknown keys are errors with the closest valid key", "[config]") {
  auto d = doc("scheduler:\n  max_num_seqs: 4\n  max_num_seq: 8\n");
  auto s = d.root().child("scheduler");
  CHECK(s.get<int>("max_num_seqs").value() == 4);
  REQUIRE_THROWS_WITH(d.check_unknown_keys(), Contains("test.yaml:3: scheduler.max_num_seq: unknown key") &&
                                                  Contains("did you mean 'max_num_seqs'"));
}

TEST_CASE("config: a whole unknown section is reported", "[config]") {
  auto d = doc("model: x\nworklaod:\n  rate: 3\n");
  CHECK(d.root().get<std::string>("model").value() == "x");
  (void)d.root().has("workload");
  REQUIRE_THROWS_WITH(d.check_unknown_keys(), Contains("test.yaml:2: worklaod") && Contains("did you mean 'workload'"));
}

TEST_CASE("config: --set overrides values, creates keys and is named in errors", "[config]") {
  auto d = doc("a:\n  n: 1\n");
  d.set_override("a.n=5");
  d.set_override("b.c.d=hello");
  CHECK(d.root().child("a").get<int>("n").value() == 5);
  CHECK(d.root().child("b").child("c").get<std::string>("d").value() == "hello");
  d.set_override("a.n=-1");
  REQUIRE_THROWS_WITH(d.root().child("a").get<int>("n").at_least(0).value(), Contains("--set a.n = -1"));
  REQUIRE_THROWS_WITH(d.set_override("novalue"), Contains("expected key.path=value"));
}

TEST_CASE("config: --set of a preset name keeps the overrides already layered on the old preset", "[config]") {
  // A sweep's `set: model.precision: fp8` with an axis over `model` must keep FP8 on every point.
  auto d = doc("model: mixtral-8x7b\n");
  d.set_override("model.precision=fp8");
  d.set_override("model=llama-3-70b");
  const auto model = d.root().child("model");
  CHECK(model.get<std::string>("preset").value() == "llama-3-70b");
  CHECK(model.get<std::string>("precision").value() == "fp8");
  // A name over a plain name, or over an inline map without a preset, still replaces it.
  auto plain = doc("model: a\nother:\n  x: 1\n");
  plain.set_override("model=b");
  plain.set_override("other=c");
  CHECK(plain.root().get<std::string>("model").value() == "b");
  CHECK(plain.root().get<std::string>("other").value() == "c");
}

TEST_CASE("config: a node layered over a preset reads the preset's keys and checks both files", "[config]") {
  auto preset = config::Document::load_string("name: gpu\nmemory:\n  capacity: 80 GB\n  bandwidth: 3 TB/s\n", "preset.yaml");
  auto d = doc("device:\n  preset: gpu\n  memory:\n    bandwidth: 2 TB/s\n");
  auto dev = d.root().child("device");
  (void)dev.get<std::string>("preset").value();
  auto layered = dev.over(preset.root());
  auto mem = layered.child("memory");
  CHECK(mem.quantity("bandwidth", units::Dim::bandwidth).value() == 2e12);  // override wins
  CHECK(mem.quantity("capacity", units::Dim::bytes).value() == 80e9);      // preset fills in
  CHECK(layered.get<std::string>("name").value() == "gpu");
  d.check_unknown_keys();
  preset.check_unknown_keys();  // the overridden preset key counts as known
  CHECK(d.resolved()["device"]["memory"]["capacity"].as<std::string>() == "80 GB");
}

TEST_CASE("config: YAML syntax errors name the line", "[config]") {
  REQUIRE_THROWS_WITH(doc("a: [1, 2\nb: 3\n"), Contains("test.yaml:") && Contains("YAML syntax error"));
}

TEST_CASE("config: a key given twice in one map is an error naming its second line", "[config][errors]") {
  REQUIRE_THROWS_WITH(doc("a:\n  n: 1\n  m: 2\n  n: 3\n"),
                      Contains("test.yaml:4: a.n: duplicate key") && Contains("first given on line 2"));
  REQUIRE_THROWS_WITH(doc("seed: 1\nname: x\nseed: 2\n"), Contains("test.yaml:3: seed: duplicate key"));
  REQUIRE_THROWS_WITH(doc("pools:\n  - {device: a, device: b}\n"), Contains("test.yaml:2: pools[0].device: duplicate key"));
  CHECK_NOTHROW(doc("a: {n: 1}\nb: {n: 1}\n"));  // the same key in different maps is fine
}

TEST_CASE("config: a second YAML document in the file is an error", "[config][errors]") {
  REQUIRE_THROWS_WITH(doc("a: 1\n---\nb: 2\n"), Contains("test.yaml:3: a second YAML document"));
  CHECK_NOTHROW(doc("---\na: 1\n"));      // one document with an explicit start marker
  CHECK_NOTHROW(doc("a: 1\n---\n"));      // a trailing empty document holds nothing
}

TEST_CASE("config: text yaml-cpp cannot read is a syntax error, not an endless loop", "[config][errors]") {
  // Debian's yaml-cpp 0.7 LoadAll never returns on these (found by the sweep_spec fuzz target).
  REQUIRE_THROWS_WITH(doc(",bai"), Contains("test.yaml:1:1: YAML syntax error: unexpected ','"));
  REQUIRE_THROWS_WITH(doc("a: 1\n,\n"), Contains("test.yaml:2:1: YAML syntax error"));
  CHECK_NOTHROW(doc("---\n---\n"));  // empty documents at different places are not a loop
}

TEST_CASE("config: a list or map used as a map key is an error naming the line", "[config][errors]") {
  REQUIRE_THROWS_WITH(doc("a: 1\n? [x, y]\n: 2\n"), Contains("test.yaml:2:") && Contains("a list") &&
                                                         Contains("expected a plain key"));
  REQUIRE_THROWS_WITH(doc("a:\n  {k: v}: 2\n"), Contains("test.yaml:2: a:") && Contains("a map"));
}

TEST_CASE("config: a directory or a binary file is refused as a scenario", "[config][errors]") {
  const auto dir = std::filesystem::temp_directory_path() / ("hetsim_cfg_dir_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  REQUIRE_THROWS_WITH(config::Document::load_file(dir.string()), Contains(dir.string() + ": is a directory"));
  const auto bin = dir / "bin.yaml";
  std::ofstream(bin, std::ios::binary) << std::string("a: 1\nb: \xff\xfe\x00\x01", 11);
  REQUIRE_THROWS_WITH(config::Document::load_file(bin.string()),
                      Contains(bin.string() + ":2: not a UTF-8 text file") && Contains("byte 0xff"));
  std::filesystem::remove_all(dir);
}
