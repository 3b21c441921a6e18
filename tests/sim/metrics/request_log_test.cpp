// The request log: records leave in id order whatever order requests end in, only the requests
// between the oldest in the system and the newest arrival are held, and misuse is an error.
#include <catch2/catch.hpp>

#include <vector>

#include "sim/core/error.hpp"
#include "sim/metrics/request_log.hpp"

using namespace hetsim;
using Catch::Matchers::Contains;

namespace {
void end(sim::RequestLog& log, std::int64_t id) {
  log.at(id).status = sim::RequestStatus::completed;
  log.release_ended();
}
}  // namespace

TEST_CASE("request log: records leave in id order once every earlier one has ended", "[metrics][request_log]") {
  sim::RequestLog log;
  std::vector<std::int64_t> out;
  log.add_sink([&](const sim::RequestRecord& r) { out.push_back(r.id); });
  for (std::int64_t id = 0; id < 4; ++id) log.open(id);
  end(log, 2);
  end(log, 1);
  CHECK(out.empty());  // request 0 is still in the system
  CHECK(log.held() == 4);
  end(log, 0);
  CHECK(out == std::vector<std::int64_t>{0, 1, 2});
  CHECK(log.held() == 1);
  log.open(4);
  end(log, 4);
  CHECK(out.size() == 3);
  end(log, 3);
  CHECK(out == std::vector<std::int64_t>{0, 1, 2, 3, 4});
  CHECK(log.held() == 0);
  CHECK(log.oldest() == nullptr);
  CHECK(log.opened() == 5);
}

TEST_CASE("request log: holds only the requests in flight on a long stream", "[metrics][request_log]") {
  // 1M requests, each ending 3 arrivals after it began: at most 4 records are ever held.
  sim::RequestLog log;
  std::int64_t released = 0, last = -1;
  bool ordered = true;
  log.add_sink([&](const sim::RequestRecord& r) {
    ordered = ordered && r.id == last + 1;
    last = r.id;
    ++released;
  });
  std::size_t peak = 0;
  const std::int64_t n = 1'000'000;
  for (std::int64_t id = 0; id < n; ++id) {
    log.open(id);
    peak = std::max(peak, log.held());
    if (id >= 3) end(log, id - 3);
  }
  for (std::int64_t id = n - 3; id < n; ++id) end(log, id);
  CHECK(released == n);
  CHECK(ordered);
  CHECK(peak == 4);
}

TEST_CASE("request log: out-of-order arrivals, unknown and ended requests are errors", "[metrics][request_log]") {
  sim::RequestLog log;
  log.open(0);
  REQUIRE_THROWS_AS(log.open(2), InvariantError);
  REQUIRE_THROWS_WITH(log.open(2), Contains("request 2 arrived out of order: expected request 1"));
  REQUIRE_THROWS_WITH(log.at(1), Contains("request 1 is not in the system"));
  log.open(1);
  end(log, 1);
  REQUIRE_THROWS_WITH(log.at(1), Contains("request 1 has already ended"));
  end(log, 0);
  REQUIRE_THROWS_WITH(log.at(0), Contains("request 0 is not in the system"));
}
