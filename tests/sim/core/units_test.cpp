#include <catch2/catch.hpp>

#include "sim/core/error.hpp"
#include "sim/core/units.hpp"

using hetsim::InputError;
using namespace hetsim::units;

TEST_CASE("units: sizes use SI decimal and IEC binary prefixes", "[units]") {
  CHECK(parse("80 GB", Dim::bytes) == 80e9);
  CHECK(parse("80 GiB", Dim::bytes) == 80.0 * 1024 * 1024 * 1024);
  CHECK(parse("512B", Dim::bytes) == 512);
  CHECK(parse(" 1.5 MiB ", Dim::bytes) == 1.5 * 1024 * 1024);
}

TEST_CASE("units: bandwidths in bytes and bits per second", "[units]") {
  CHECK(parse("3.35 TB/s", Dim::bandwidth) == Approx(3.35e12));
  CHECK(parse("450 GB/s", Dim::bandwidth) == 450e9);
  CHECK(parse("400 Gbps", Dim::bandwidth) == 50e9);
  CHECK(parse("400 Gb/s", Dim::bandwidth) == 50e9);
  CHECK(parse("25 GBps", Dim::bandwidth) == 25e9);
}

TEST_CASE("units: compute rates and durations", "[units]") {
  CHECK(parse("989.4 TFLOPS", Dim::flop_rate) == Approx(989.4e12));
  CHECK(parse("624 TOPS", Dim::flop_rate) == 624e12);
  CHECK(parse("500 ms", Dim::time) == Approx(0.5));
  CHECK(parse("2us", Dim::time) == Approx(2e-6));
  CHECK(parse("1 h", Dim::time) == 3600);
}

TEST_CASE("units: errors name the text and what was expected", "[units]") {
  REQUIRE_THROWS_WITH(parse("3.35 TB/x", Dim::bandwidth), Catch::Contains("unknown unit 'TB/x'") && Catch::Contains("3.35 TB/s"));
  REQUIRE_THROWS_WITH(parse("80", Dim::bytes), Catch::Contains("missing unit"));
  REQUIRE_THROWS_WITH(parse("fast", Dim::time), Catch::Contains("not a number"));
  REQUIRE_THROWS_AS(parse("3 TB/s", Dim::bytes), InputError);  // a bandwidth is not a size
}

TEST_CASE("units: format picks a readable unit", "[units]") {
  CHECK(format(3.35e12, Dim::bandwidth) == "3.35 TB/s");
  CHECK(format(0.5, Dim::time) == "500 ms");
  CHECK(format(80e9, Dim::bytes) == "80 GB");
}
