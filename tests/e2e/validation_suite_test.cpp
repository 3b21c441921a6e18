// The validation suite (validation/cases.yaml): every case runs, and none may regress beyond its
// recorded error (validation/recorded.csv, rewritten only with `hetsim validation --record` and
// the reason in the commit message).
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "support.hpp"

using namespace hetsim;

TEST_CASE("validation suite: no case regresses beyond its recorded error against public measurements", "[validation][e2e]") {
  test::TempDir dir("validation");
  const auto r = test::run_hetsim(fmt::format("validation --cases '{0}/validation/cases.yaml' --recorded '{0}/validation/recorded.csv' "
                                              "--out '{1}' --check",
                                              test::source_dir(), dir.file("results.md")));
  INFO(r.output);
  CHECK(r.exit_code == 0);
  const std::string table = test::read_file(dir.file("results.md"));
  CHECK(table.find("FAILED") == std::string::npos);
  // Every level is covered, fit and check sets are reported apart.
  for (const char* row : {"| op | check |", "| collective | check |", "| single_request | check |", "| loaded | check |", "| all | check |"})
    CHECK(table.find(row) != std::string::npos);
}
