#include <catch2/catch.hpp>

#include <filesystem>
#include <numeric>
#include <vector>

#include "sim/core/error.hpp"
#include "support.hpp"
#include "sim/core/registry.hpp"
#include "workload/azure_trace.hpp"
#include "workload/burstgpt_trace.hpp"
#include "workload/mooncake_trace.hpp"
#include "workload/stream_support.hpp"
#include "workload/workload_source.hpp"

using namespace hetsim;
using Catch::Contains;

namespace {
// The readers, read whole.
std::vector<Request> read_azure_trace(const std::string& path) { return test::drain(workload::open_azure_trace(path)); }
std::vector<Request> read_mooncake_trace(const std::string& path) { return test::drain(workload::open_mooncake_trace(path)); }
std::vector<Request> read_burstgpt_trace(const std::string& path, const workload::BurstGptFilter& filter = {}) {
  return test::drain(workload::open_burstgpt_trace(path, filter));
}

template <class F>
double mean_of(const std::vector<Request>& rs, F f) {
  double sum = 0;
  for (const auto& r : rs) sum += static_cast<double>(f(r));
  return sum / static_cast<double>(rs.size());
}
}  // namespace

TEST_CASE("azure trace: the in-repo sample reads row by row, across midnight, at 100 ns resolution", "[workload][trace]") {
  const std::string path = test::fixture("traces/azure_conv_sample.csv");
  const auto rs = read_azure_trace(path);
  // Values typed from tests/fixtures/traces/azure_conv_sample.csv; arrivals are seconds after its
  // first TIMESTAMP (2023-11-16 23:59:58.0000000).
  const std::vector<std::int64_t> prompt{374, 396, 879, 91, 1024, 14050, 2, 1155};
  const std::vector<std::int64_t> output{44, 109, 55, 16, 211, 1000, 1, 7};
  const std::vector<double> arrival{0, 0.25, 0.25, 1.0000001, 1.9999999, 2.0, 2.5, 3.1234567};
  REQUIRE(rs.size() == prompt.size());
  for (std::size_t i = 0; i < rs.size(); ++i) {
    INFO("row " << i + 2);
    CHECK(rs[i].prompt_tokens == prompt[i]);
    CHECK(rs[i].output_tokens == output[i]);
    CHECK(rs[i].arrival == Approx(arrival[i]).epsilon(0).margin(1e-9));  // finer than one 100 ns tick
  }
  CHECK(mean_of(rs, [](const Request& r) { return r.prompt_tokens; }) == Approx(17971.0 / 8));
  CHECK(rs[3].arrival > rs[2].arrival);  // one tick apart from a whole second
}

TEST_CASE("azure trace (shared data): the full traces read with their published figures", "[workload][trace][shared_data]") {
  // Needs /work/shared/data (../shared/data beside the repository); fails, never skips, without it.
  const std::string conv = test::shared_data() + "/azure_llm_2023/AzureLLMInferenceTrace_conv.csv";
  INFO("shared data missing: " << conv << " (see ../shared/data/README.md; run ctest -E 'shared data' to leave it out)");
  REQUIRE(std::filesystem::exists(conv));
  const auto rs = read_azure_trace(conv);
  REQUIRE(rs.size() == 19366);
  CHECK(mean_of(rs, [](const Request& r) { return r.prompt_tokens; }) == Approx(1155).margin(1));
  CHECK(mean_of(rs, [](const Request& r) { return r.output_tokens; }) == Approx(211).margin(1));
  CHECK(rs.front().arrival == 0);
  CHECK(rs.back().arrival == Approx(3502).margin(2));  // one hour of traffic
  const auto code = read_azure_trace(test::shared_data() + "/azure_llm_2023/AzureLLMInferenceTrace_code.csv");
  REQUIRE(code.size() == 8819);
  CHECK(mean_of(code, [](const Request& r) { return r.prompt_tokens; }) == Approx(2048).margin(1));
  CHECK(mean_of(code, [](const Request& r) { return r.output_tokens; }) == Approx(27.9).margin(0.1));
}

TEST_CASE("azure trace: timestamps with 100 ns resolution across midnight", "[workload][trace]") {
  std::int64_t a = 0, b = 0, epoch = 0;
  REQUIRE(workload::parse_timestamp("2023-11-16 23:59:59.9999999", a));
  REQUIRE(workload::parse_timestamp("2023-11-17 00:00:00.0000001", b));
  CHECK(b - a == 2);
  REQUIRE(workload::parse_timestamp("1970-01-02 00:00:00", epoch));
  CHECK(epoch == 86400LL * 10000000);
  CHECK_FALSE(workload::parse_timestamp("2023-13-01 00:00:00", a));
  CHECK_FALSE(workload::parse_timestamp("yesterday", a));
}

TEST_CASE("azure trace: malformed lines are rejected with file and line", "[workload][trace]") {
  test::TempDir dir("azure");
  const std::string header = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
  const std::string ok = "2023-11-16 18:15:46.6805900,374,44\n";
  SECTION("bad number") {
    auto f = dir.write("t.csv", header + ok + "2023-11-16 18:15:47.0000000,abc,44\n");
    REQUIRE_THROWS_WITH(read_azure_trace(f), Contains("t.csv:3: ContextTokens = \"abc\""));
  }
  SECTION("bad timestamp") {
    auto f = dir.write("t.csv", header + ok + ok + "18:15:47,10,44\n");
    REQUIRE_THROWS_WITH(read_azure_trace(f), Contains("t.csv:4: TIMESTAMP = \"18:15:47\""));
  }
  SECTION("missing field") {
    auto f = dir.write("t.csv", header + "2023-11-16 18:15:46.6805900,374\n");
    REQUIRE_THROWS_WITH(read_azure_trace(f), Contains("t.csv:2: expected 3 fields"));
  }
  SECTION("missing column") {
    auto f = dir.write("t.csv", "TIMESTAMP,Context,GeneratedTokens\n" + ok);
    REQUIRE_THROWS_WITH(read_azure_trace(f), Contains("missing column 'ContextTokens'"));
  }
  SECTION("zero tokens") {
    auto f = dir.write("t.csv", header + "2023-11-16 18:15:46.6805900,374,0\n");
    REQUIRE_THROWS_WITH(read_azure_trace(f), Contains("t.csv:2: GeneratedTokens = \"0\""));
  }
}

TEST_CASE("mooncake trace: the in-repo sample reads row by row with hash ids kept", "[workload][trace]") {
  const auto rs = read_mooncake_trace(test::fixture("traces/mooncake_conv_sample.jsonl"));
  // Values typed from tests/fixtures/traces/mooncake_conv_sample.jsonl (its blank line is skipped).
  REQUIRE(rs.size() == 5);
  const std::vector<double> arrival{0, 0, 0.007, 1.5, 3537};  // timestamp is in ms
  const std::vector<std::int64_t> prompt{1024, 1025, 512, 1, 2000};
  const std::vector<std::int64_t> output{500, 3, 1, 343, 12};
  const std::vector<std::vector<std::uint64_t>> ids{{0, 1}, {0, 1, 2}, {3}, {4}, {0, 5, 6, 7}};
  for (std::size_t i = 0; i < rs.size(); ++i) {
    INFO("request " << i);
    CHECK(rs[i].arrival == Approx(arrival[i]).epsilon(0).margin(1e-12));
    CHECK(rs[i].prompt_tokens == prompt[i]);
    CHECK(rs[i].output_tokens == output[i]);
    CHECK(rs[i].hash_ids == ids[i]);
    // One hash id per 512-token block of the prompt, as in the real trace.
    CHECK(static_cast<std::int64_t>(rs[i].hash_ids.size()) == (rs[i].prompt_tokens + 511) / 512);
    // The ids describe the whole prompt, in 512-token blocks.
    CHECK(rs[i].hash_block_tokens == 512);
    CHECK(rs[i].hash_tokens == rs[i].prompt_tokens);
  }
}

TEST_CASE("mooncake trace (shared data): the full traces read with their published figures", "[workload][trace][shared_data]") {
  // Needs /work/shared/data (../shared/data beside the repository); fails, never skips, without it.
  const std::string conv = test::shared_data() + "/mooncake/conversation_trace.jsonl";
  INFO("shared data missing: " << conv << " (see ../shared/data/README.md; run ctest -E 'shared data' to leave it out)");
  REQUIRE(std::filesystem::exists(conv));
  const auto rs = read_mooncake_trace(conv);
  REQUIRE(rs.size() == 12031);
  CHECK(mean_of(rs, [](const Request& r) { return r.prompt_tokens; }) == Approx(12035).margin(1));
  CHECK(mean_of(rs, [](const Request& r) { return r.output_tokens; }) == Approx(343).margin(1));
  // One hash id per 512-token block of the prompt.
  for (const auto& r : rs) REQUIRE(static_cast<std::int64_t>(r.hash_ids.size()) == (r.prompt_tokens + 511) / 512);
  const auto syn = read_mooncake_trace(test::shared_data() + "/mooncake/synthetic_trace.jsonl");
  CHECK(syn.size() == 3993);
}

TEST_CASE("mooncake trace: malformed lines are rejected with file and line", "[workload][trace]") {
  test::TempDir dir("mooncake");
  const std::string ok = R"({"timestamp": 0, "input_length": 10, "output_length": 5, "hash_ids": [0]})" "\n";
  SECTION("not JSON") {
    auto f = dir.write("t.jsonl", ok + "{\"timestamp\": 1, \n");
    REQUIRE_THROWS_WITH(read_mooncake_trace(f), Contains("t.jsonl:2: not a JSON object"));
  }
  SECTION("missing field") {
    auto f = dir.write("t.jsonl", ok + ok + R"({"timestamp": 5, "output_length": 5})" "\n");
    REQUIRE_THROWS_WITH(read_mooncake_trace(f), Contains("t.jsonl:3: missing field 'input_length'"));
  }
  SECTION("negative length") {
    auto f = dir.write("t.jsonl", R"({"timestamp": 5, "input_length": -3, "output_length": 5})" "\n");
    REQUIRE_THROWS_WITH(read_mooncake_trace(f), Contains("t.jsonl:1: input_length = -3"));
  }
  SECTION("bad hash ids") {
    auto f = dir.write("t.jsonl", R"({"timestamp": 5, "input_length": 3, "output_length": 5, "hash_ids": "x"})" "\n");
    REQUIRE_THROWS_WITH(read_mooncake_trace(f), Contains("t.jsonl:1: hash_ids"));
  }
}

TEST_CASE("csv trace: a UTF-8 byte order mark before the header is skipped", "[workload][trace]") {
  test::TempDir dir("bom");
  auto f = dir.write("t.csv", "\xEF\xBB\xBFTIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.0000000,374,44\n");
  const auto rs = read_azure_trace(f);
  REQUIRE(rs.size() == 1);
  CHECK(rs[0].prompt_tokens == 374);
}

TEST_CASE("azure trace: time going backwards or spanning over a year is refused with file and row", "[workload][trace]") {
  test::TempDir dir("azure_time");
  const std::string header = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
  const std::string ok = "2023-11-16 18:15:46.6805900,374,44\n";
  SECTION("backwards") {
    auto f = dir.write("t.csv", header + ok + "2023-11-16 18:15:45.0000000,10,5\n");
    REQUIRE_THROWS_WITH(read_azure_trace(f),
                        Contains("t.csv:3: TIMESTAMP = \"2023-11-16 18:15:45.0000000\"") &&
                            Contains("earlier than the row before (2023-11-16 18:15:46.6805900)") &&
                            Contains("non-decreasing"));
  }
  SECTION("a row dated 1899") {
    auto f = dir.write("t.csv", header + "1899-12-30 00:00:00,10,5\n" + ok);
    REQUIRE_THROWS_WITH(read_azure_trace(f),
                        Contains("t.csv:3: TIMESTAMP = \"2023-11-16 18:15:46.6805900\"") &&
                            Contains("after the first row") && Contains("at most 1 year"));
  }
}

TEST_CASE("mooncake trace: time going backwards or spanning over a year is refused with file and line", "[workload][trace]") {
  test::TempDir dir("mooncake_time");
  auto row = [](const std::string& ts) {
    return R"({"timestamp": )" + ts + R"(, "input_length": 10, "output_length": 5})" "\n";
  };
  SECTION("backwards") {
    auto f = dir.write("t.jsonl", row("1000") + row("2000") + row("1500"));
    REQUIRE_THROWS_WITH(read_mooncake_trace(f),
                        Contains("t.jsonl:3: timestamp = 1500") && Contains("earlier than the line before (2000)"));
  }
  SECTION("over a year") {
    auto f = dir.write("t.jsonl", row("0") + row("40000000000"));
    REQUIRE_THROWS_WITH(read_mooncake_trace(f),
                        Contains("t.jsonl:2: timestamp = 40000000000") && Contains("at most 1 year"));
  }
}

TEST_CASE("azure trace 2024: timestamps with microseconds and a UTC offset read as UTC", "[workload][trace]") {
  std::int64_t a = 0, b = 0, c = 0, d = 0;
  REQUIRE(workload::parse_timestamp("2024-05-10 00:00:00.009930+00:00", a));
  REQUIRE(workload::parse_timestamp("2024-05-10 00:00:00.00993", b));
  CHECK(a == b);
  REQUIRE(workload::parse_timestamp("2024-05-10 02:00:01+02:00", c));  // 00:00:01 UTC
  REQUIRE(workload::parse_timestamp("2024-05-10T00:00:01Z", d));
  CHECK(c == d);
  CHECK(c - a == 10000000 - 99300);
  REQUIRE(workload::parse_timestamp("2024-05-09 17:00:01-0700", a));
  CHECK(a == d);
  CHECK_FALSE(workload::parse_timestamp("2024-05-10 00:00:00.5+25:00", a));
  CHECK_FALSE(workload::parse_timestamp("2024-05-10 00:00:00.+00:00", a));
  CHECK_FALSE(workload::parse_timestamp("2024-05-10 00:00:00 UTC", a));
}

TEST_CASE("azure trace 2024: the week-long release's CSV format reads like the 2023 one", "[workload][trace]") {
  // Format sample of AzureLLMInferenceTrace_{code,conv}_1week.csv (header and TIMESTAMP layout of the
  // 2024 release, hand-written values): rows may omit the fraction.
  test::TempDir dir("azure2024");
  const auto f = dir.write("t.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                                    "2024-05-10 00:00:00.009930+00:00,2048,23\n"
                                    "2024-05-10 00:00:01+00:00,310,180\n"
                                    "2024-05-16 23:59:59.990000+00:00,7,1\n");
  const auto rs = read_azure_trace(f);
  REQUIRE(rs.size() == 3);
  CHECK(rs[0].arrival == 0);
  CHECK(rs[1].arrival == Approx(0.99007).epsilon(0).margin(1e-9));
  CHECK(rs[2].arrival == Approx(7 * 86400 - 0.01 - 0.00993).epsilon(0).margin(1e-6));
  CHECK(rs[1].prompt_tokens == 310);
  CHECK(rs[2].output_tokens == 1);
  const auto bad = dir.write("bad.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2024-05-10 00:00:00.1+0x:00,1,1\n");
  REQUIRE_THROWS_WITH(read_azure_trace(bad),
                      Contains("bad.csv:2: TIMESTAMP = \"2024-05-10 00:00:00.1+0x:00\"") && Contains("UTC offset"));
}

TEST_CASE("burstgpt trace: the in-repo format sample reads row by row, failed rows skipped", "[workload][trace]") {
  // tests/fixtures/traces/burstgpt_sample.csv is a hand-written format sample, not real data.
  const std::string path = test::fixture("traces/burstgpt_sample.csv");
  const auto rs = read_burstgpt_trace(path);
  // 8 rows; the two with Response tokens 0 (lines 4 and 5) are failures.
  const std::vector<double> arrival{3, 3, 41, 41.5, 96, 3600};
  const std::vector<std::int64_t> prompt{512, 1830, 220, 9000, 731, 15};
  const std::vector<std::int64_t> output{96, 402, 35, 1200, 1, 640};
  REQUIRE(rs.size() == prompt.size());
  for (std::size_t i = 0; i < rs.size(); ++i) {
    INFO("request " << i);
    CHECK(rs[i].arrival == arrival[i]);
    CHECK(rs[i].prompt_tokens == prompt[i]);
    CHECK(rs[i].output_tokens == output[i]);
  }
  auto prompts = [&](const workload::BurstGptFilter& f) {
    std::vector<std::int64_t> out;
    for (const auto& r : read_burstgpt_trace(path, f)) out.push_back(r.prompt_tokens);
    return out;
  };
  CHECK(prompts({.model = "ChatGPT"}) == std::vector<std::int64_t>{512, 9000, 731});
  CHECK(prompts({.model = "GPT-4"}) == std::vector<std::int64_t>{1830, 220, 15});
  CHECK(prompts({.log_type = "Conversation log"}) == std::vector<std::int64_t>{512, 1830, 731, 15});
  CHECK(prompts({.model = "ChatGPT", .log_type = "API log"}) == std::vector<std::int64_t>{9000});
}

TEST_CASE("burstgpt trace: the workload source filters, then applies limit and rate_scale", "[workload][trace]") {
  auto requests_of = [](const std::string& extra) {
    auto doc = config::Document::load_string("source: burstgpt\nfile: " + test::fixture("traces/burstgpt_sample.csv") +
                                                 "\n" + extra,
                                             "w.yaml");
    auto src = Registry<workload::WorkloadSource>::instance().make(doc.root(), "", "source");
    doc.check_unknown_keys();
    return test::drain(src->open(1));
  };
  const auto gpt4 = requests_of("model: GPT-4\nrate_scale: 2\n");
  REQUIRE(gpt4.size() == 3);
  CHECK(gpt4[1].arrival == 19.0);  // (41 - 3) / 2
  CHECK(gpt4[2].arrival == 1798.5);
  CHECK(gpt4[2].id == 2);
  const auto api = requests_of("log_type: api\nlimit: 1\n");
  REQUIRE(api.size() == 1);
  CHECK(api[0].prompt_tokens == 220);
  CHECK(requests_of("").size() == 6);
  CHECK(requests_of("concurrency: 2\nlimit: 4\n").size() == 4);
  REQUIRE_THROWS_WITH(requests_of("model: gpt4\n"), Contains("w.yaml:3: model = gpt4: expected one of \"all\", \"ChatGPT\", \"GPT-4\""));
  REQUIRE_THROWS_WITH(requests_of("log_type: Conversation log\n"), Contains("log_type = Conversation log: expected one of"));
  REQUIRE_THROWS_WITH(requests_of("concurrency: 2\nrate_scale: 2\n"),
                      Contains("w.yaml:4: rate_scale = 2") && Contains("ignore the trace's timestamps"));
}

TEST_CASE("burstgpt trace: malformed lines are rejected with file, line, column, value and expectation", "[workload][trace]") {
  test::TempDir dir("burstgpt");
  const std::string header = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n";
  const std::string ok = "5,ChatGPT,100,20,120,Conversation log\n";
  auto fails = [&](const std::string& body, const std::string& expect) {
    const auto f = dir.write("t.csv", body);
    REQUIRE_THROWS_WITH(read_burstgpt_trace(f), Contains(expect));
  };
  fails(header + ok + "x,ChatGPT,1,1,2,API log\n", "t.csv:3: Timestamp = \"x\": expected seconds from the start of the trace");
  fails(header + "-1,ChatGPT,1,1,2,API log\n", "t.csv:2: Timestamp = \"-1\"");
  fails(header + ok + "4,ChatGPT,1,1,2,API log\n", "t.csv:3: Timestamp = \"4\": earlier than the row before (5)");
  fails(header + "0,ChatGPT,1,1,2,API log\n40000000,ChatGPT,1,1,2,API log\n", "t.csv:3: Timestamp = \"40000000\"");
  fails(header + "5,Claude,1,1,2,API log\n", "t.csv:2: Model = \"Claude\": expected \"ChatGPT\" or \"GPT-4\"");
  fails(header + "5,ChatGPT,1,1,2,Chat log\n",
        "t.csv:2: Log Type = \"Chat log\": expected \"Conversation log\" or \"API log\"");
  fails(header + "5,ChatGPT,ten,1,11,API log\n", "t.csv:2: Request tokens = \"ten\": expected an integer >= 0");
  fails(header + "5,ChatGPT,3,-1,2,API log\n", "t.csv:2: Response tokens = \"-1\": expected an integer >= 0");
  fails(header + "5,ChatGPT,0,7,7,API log\n", "t.csv:2: Request tokens = \"0\": expected an integer >= 1");
  fails(header + "5,ChatGPT,1,1,API log\n", "t.csv:2: expected 6 fields");
  fails("Timestamp,Model,Request tokens,Total tokens,Log Type\n" + ok, "t.csv:1: missing column 'Response tokens'");
  // A newer release's extra columns are fine: columns are found by name.
  const auto f = dir.write("v2.csv", "Timestamp,Session ID,Elapsed time,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
                                     "5,abc,1.5,GPT-4,10,20,30,Conversation log\n");
  REQUIRE(read_burstgpt_trace(f).size() == 1);
}
