// Golden outputs: small runs of the shipped scenarios (and one `hetsim transfer`) must reproduce
// the files checked in under tests/golden/ byte for byte. The cases are listed once, in
// tests/golden/cases.txt, which tests/golden/update.sh also reads to regenerate them.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "support.hpp"

using namespace hetsim;
namespace fs = std::filesystem;

namespace {
struct GoldenCase {
  std::string name, args;
};

std::vector<GoldenCase> golden_cases() {
  std::ifstream in(test::source_dir() + "/tests/golden/cases.txt");
  std::vector<GoldenCase> cases;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.find(' ');
    cases.push_back({line.substr(0, space), line.substr(space + 1)});
  }
  return cases;
}

/// The printed output without the lines that name the output folder or the wall time.
std::string stable_stdout(const std::string& output) {
  std::istringstream in(output);
  std::string line, kept;
  while (std::getline(in, line))
    if (line.rfind("  results  ", 0) != 0 && line.rfind("  wall time", 0) != 0) kept += line + "\n";
  return kept;
}

std::set<std::string> files_in(const fs::path& dir) {
  std::set<std::string> names;
  if (fs::exists(dir))
    for (const auto& f : fs::directory_iterator(dir)) names.insert(f.path().filename().string());
  return names;
}
}  // namespace

TEST_CASE("golden: runs reproduce the checked-in outputs byte for byte", "[e2e][golden]") {
  const auto cases = golden_cases();
  REQUIRE(cases.size() >= 5);
  std::size_t runs = 0;
  for (const auto& c : cases) {
    // Every `run` case also runs with coalescing off (each model step a SimGrid event): the
    // results must be the same bytes (issue: coalesce what nobody can observe).
    std::vector<std::string> variants = {c.args};
    if (c.args.rfind("run ", 0) == 0) variants.push_back(c.args + " --no-coalesce"), ++runs;
    for (const auto& args_template : variants) {
      DYNAMIC_SECTION(c.name << (args_template == c.args ? "" : " (coalescing off)")) {
        const fs::path golden = test::source_dir() + "/tests/golden/" + c.name;
        REQUIRE(fs::exists(golden / "stdout.txt"));
        test::TempDir tmp("golden");
        const std::string out = tmp.file("res");
        std::string args = args_template;
        if (auto at = args.find("OUT"); at != std::string::npos) args.replace(at, 3, "'" + out + "'");
        const auto r = test::run_command("cd '" + test::source_dir() + "' && '" + HETSIM_BIN + "' " + args);
        INFO(r.output);
        REQUIRE(r.exit_code == 0);
        CHECK(stable_stdout(r.output) == test::read_file((golden / "stdout.txt").string()));
        auto expected = files_in(golden);
        expected.erase("stdout.txt");
        CHECK(files_in(out) == expected);
        for (const auto& name : expected) {
          INFO(c.name << "/" << name);
          CHECK(test::read_file(out + "/" + name) == test::read_file((golden / name).string()));
        }
      }
    }
  }
  CHECK(runs >= 5);
}
