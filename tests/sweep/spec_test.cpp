#include <catch2/catch.hpp>

#include "sim/core/error.hpp"
#include "support.hpp"
#include "sweep/spec.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {
sweep::Spec load(const test::TempDir& dir, const std::string& body) {
  dir.write("base.yaml", "seed: 1\n");
  return sweep::Spec::load(dir.write("spec.yaml", "base: base.yaml\n" + body));
}
std::string params(const sweep::Point& p) {
  std::string s;
  for (const auto& a : p.params) s += a.key + "=" + a.value + ";";
  return s;
}
}  // namespace

TEST_CASE("sweep spec: grid is the cartesian product, last axis fastest", "[sweep]") {
  test::TempDir dir("spec_grid");
  const auto spec = load(dir, "axes:\n  a: [1, 2, 3]\n  b: [x, y]\n");
  REQUIRE(spec.points.size() == 6);
  CHECK(params(spec.points[0]) == "a=1;b=x;");
  CHECK(params(spec.points[1]) == "a=1;b=y;");
  CHECK(params(spec.points[5]) == "a=3;b=y;");
  CHECK(spec.points[5].name == "p0005");
}

TEST_CASE("sweep spec: zip pairs the i-th values and needs equal lengths", "[sweep]") {
  test::TempDir dir("spec_zip");
  const auto spec = load(dir, "mode: zip\naxes:\n  a: [1, 2]\n  b: [x, y]\n");
  REQUIRE(spec.points.size() == 2);
  CHECK(params(spec.points[1]) == "a=2;b=y;");
  REQUIRE_THROWS_WITH(load(dir, "mode: zip\naxes:\n  a: [1, 2]\n  b: [x]\n"), Contains("spec.yaml:3: axes") && Contains("equal length"));
}

TEST_CASE("sweep spec: range() follows Python semantics", "[sweep]") {
  CHECK(*sweep::expand_range("range(1, 5)") == std::vector<std::string>{"1", "2", "3", "4"});
  CHECK(*sweep::expand_range("range(0, 10, 4)") == std::vector<std::string>{"0", "4", "8"});
  CHECK(*sweep::expand_range("range(0.5, 2, 0.5)") == std::vector<std::string>{"0.5", "1", "1.5"});
  CHECK_FALSE(sweep::expand_range("[1, 2]").has_value());
  REQUIRE_THROWS_WITH(sweep::expand_range("range(1)"), Contains("range(start, stop)"));
  REQUIRE_THROWS_WITH(sweep::expand_range("range(1, 5, 0)"), Contains("step"));
  // A count far below zero (a fuzz finding: cast to long, it was undefined behaviour) is an empty range.
  REQUIRE_THROWS_WITH(sweep::expand_range("range(9999999999999999999999999999999999999999999999999999999999990, 6)"),
                      Contains("range is empty"));
  REQUIRE_THROWS_WITH(sweep::expand_range("range(5, 1)"), Contains("range is empty"));
  test::TempDir dir("spec_range");
  REQUIRE_THROWS_WITH(load(dir, "axes:\n  a: range(1, x)\n"), Contains("spec.yaml:3: axes.a") && Contains("not a number"));
}

TEST_CASE("sweep spec: random sampling is a seeded subset in sweep order", "[sweep]") {
  test::TempDir dir("spec_sample");
  const auto a = load(dir, "axes:\n  x: range(0, 20)\n  y: [1, 2]\nsample: {count: 7, seed: 3}\n");
  const auto b = load(dir, "axes:\n  x: range(0, 20)\n  y: [1, 2]\nsample: {count: 7, seed: 3}\n");
  const auto c = load(dir, "axes:\n  x: range(0, 20)\n  y: [1, 2]\nsample: {count: 7, seed: 4}\n");
  REQUIRE(a.points.size() == 7);
  bool same = true, differs = false;
  for (std::size_t i = 0; i < 7; ++i) {
    same = same && params(a.points[i]) == params(b.points[i]);
    differs = differs || params(a.points[i]) != params(c.points[i]);
  }
  CHECK(same);
  CHECK(differs);
}

TEST_CASE("sweep spec: errors name the sweep file's line", "[sweep]") {
  test::TempDir dir("spec_err");
  REQUIRE_THROWS_WITH(load(dir, "mode: cross\n"), Contains("spec.yaml:2: mode = cross"));
  REQUIRE_THROWS_WITH(load(dir, "axes:\n  a: 5\n"), Contains("spec.yaml:3: axes.a") && Contains("range(start, stop"));
  REQUIRE_THROWS_WITH(load(dir, "axis:\n  a: [1]\n"), Contains("spec.yaml:2: axis: unknown key") && Contains("did you mean 'axes'"));
  REQUIRE_THROWS_WITH(sweep::Spec::load(dir.write("nobase.yaml", "base: missing.yaml\n")), Contains("nobase.yaml:1: base = missing.yaml"));
  REQUIRE_THROWS_WITH(load(dir, "axes:\n  workload.arrival.rate: [1]\nsearch: {lo: 1, hi: 2, slo: {ttft_p90: 1 s}}\n"),
                      Contains("must not also be a sweep axis"));
  REQUIRE_THROWS_WITH(load(dir, "search: {lo: 1, hi: 2, slo: {ttft_p95: 1 s}}\n"), Contains("search.slo.ttft_p95"));
}
