// serving.over_length end to end: the same over-length requests rejected, dropped or clipped.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {
struct Run {
  std::vector<std::map<std::string, std::string>> requests;
  nlohmann::json summary;
  std::string output;
};

Run run(const test::TempDir& dir, const std::string& policy) {
  const auto r = test::run_hetsim("run '" + test::source_dir() + "/scenarios/quickstart.yaml' --out '" + dir.file(policy) +
                                  "' --set workload.num_requests=200 --set serving.max_model_len=1500 "
                                  "--set serving.over_length=" + policy);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return {test::read_csv(dir.file(policy + "/requests.csv")),
          nlohmann::json::parse(test::read_file(dir.file(policy + "/summary.json"))), r.output};
}
std::int64_t tokens(const std::map<std::string, std::string>& row, const char* key) { return std::stoll(row.at(key)); }
}  // namespace

TEST_CASE("over_length: reject, drop and clip treat the same over-length requests", "[e2e][over_length]") {
  test::TempDir dir("over_length");
  const Run reject = run(dir, "reject"), drop = run(dir, "drop"), clip = run(dir, "clip");
  REQUIRE(reject.requests.size() == 200);
  std::size_t over = 0;
  for (const auto& r : reject.requests) {
    const bool too_long = tokens(r, "prompt_tokens") + tokens(r, "output_tokens") > 1500;
    over += too_long;
    CHECK((r.at("status") == "rejected") == too_long);
  }
  REQUIRE(over > 10);  // the quickstart's lognormal lengths: many exceed 1500 tokens
  CHECK(reject.summary["requests"]["rejected"].get<std::size_t>() == over);
  CHECK(reject.summary["rejected_by_reason"]["exceeds_max_model_len"].get<std::size_t>() == over);

  SECTION("drop: recorded as dropped, outside the latency statistics and Little's law") {
    const auto& s = drop.summary;
    CHECK(s["requests"]["total"].get<std::size_t>() == 200);
    CHECK(s["requests"]["dropped"].get<std::size_t>() == over);
    CHECK(s["requests"]["rejected"].get<std::size_t>() == 0);
    CHECK(s["requests"]["completed"].get<std::size_t>() == 200 - over);
    CHECK(s["latency_s"]["ttft"]["count"].get<std::size_t>() == 200 - over);
    CHECK(s["littles_law"]["arrival_rate_per_s"].get<double>() ==
          Approx(static_cast<double>(200 - over) / s["duration_s"].get<double>()));
    CHECK(s["littles_law"]["mean_in_system"].get<double>() == Approx(s["littles_law"]["lambda_times_w"].get<double>()));
    CHECK_THAT(drop.output, Contains(std::to_string(over) + " dropped"));
    for (std::size_t i = 0; i < 200; ++i) {
      const auto& d = drop.requests[i];
      INFO("request " << i);
      CHECK(d.at("prompt_tokens") == reject.requests[i].at("prompt_tokens"));
      if (reject.requests[i].at("status") == "rejected") {
        CHECK(d.at("status") == "dropped");
        CHECK_THAT(d.at("reason"), Contains("exceeds_max_model_len"));
        CHECK(d.at("first_token_s").empty());
        CHECK(d.at("replica") == "-1");
      } else {
        CHECK(d.at("status") == "completed");
      }
    }
  }
  SECTION("clip: every request runs, shortened to fit, with its original lengths kept") {
    const auto& s = clip.summary;
    CHECK(s["requests"]["completed"].get<std::size_t>() == 200);
    CHECK(s["requests"]["clipped"].get<std::size_t>() == over);
    CHECK_THAT(clip.output, Contains(std::to_string(over) + " clipped"));
    for (std::size_t i = 0; i < 200; ++i) {
      const auto& c = clip.requests[i];
      INFO("request " << i);
      const std::int64_t p = tokens(c, "prompt_tokens"), o = tokens(c, "output_tokens");
      const std::int64_t op = tokens(c, "original_prompt_tokens"), oo = tokens(c, "original_output_tokens");
      CHECK(op == tokens(reject.requests[i], "prompt_tokens"));
      CHECK(oo == tokens(reject.requests[i], "output_tokens"));
      CHECK(c.at("status") == "completed");
      if (op + oo > 1500) {
        CHECK(c.at("clipped") == "true");
        CHECK(p + o == 1500);
        CHECK((p >= 1 && o >= 1 && p <= op && o <= oo));
      } else {
        CHECK(c.at("clipped") == "false");
        CHECK((p == op && o == oo));
      }
    }
  }
}

TEST_CASE("over_length: bad values exit 2 with the key, value and expectation", "[e2e][over_length][errors]") {
  const std::string base = "validate '" + test::source_dir() + "/scenarios/quickstart.yaml' ";
  auto r = test::run_hetsim(base + "--set serving.over_length=trim");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("--set serving.over_length = trim: expected one of \"reject\", \"drop\", \"clip\""));
  r = test::run_hetsim(base + "--set serving.over_length=clip --set serving.max_model_len=1");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("serving.over_length = clip") && Contains("max_model_len >= 2"));
}
