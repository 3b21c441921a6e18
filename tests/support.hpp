#pragma once
// Helpers shared by the tests: temporary folders, reading result CSVs, running the hetsim CLI.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <vector>

namespace hetsim::test {

inline std::string source_dir() { return HETSIM_SOURCE_DIR; }
/// The project's shared data folder (real traces and measurements): $HETSIM_SHARED_DATA, else
/// ../shared/data beside the checkout, else /work/shared/data (where a clean clone elsewhere on
/// this kind of machine finds it). Tests that need it fail, never skip, when none exists.
inline std::string shared_data() {
  if (const char* env = std::getenv("HETSIM_SHARED_DATA")) return env;
  const std::string beside = std::string(HETSIM_SOURCE_DIR) + "/../shared/data";
  if (std::filesystem::exists(beside)) return beside;
  return "/work/shared/data";
}
/// A file shipped under tests/fixtures/ (see its README); an error if it is missing, so a test
/// that needs it fails instead of passing vacuously.
inline std::string fixture(const std::string& relative) {
  const auto path = std::string(HETSIM_SOURCE_DIR) + "/tests/fixtures/" + relative;
  if (!std::filesystem::exists(path)) throw std::runtime_error("test fixture missing: " + path);
  return path;
}

/// A fresh empty folder under the system temp dir, removed at scope exit.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("hetsim_test_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string str() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(file(name)) << text;
    return file(name);
  }

 private:
  std::filesystem::path path_;
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// A CSV file as rows of column name -> text.
inline std::vector<std::map<std::string, std::string>> read_csv(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::vector<std::string> header;
  std::vector<std::map<std::string, std::string>> rows;
  auto split = [](const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string f;
    while (std::getline(ss, f, ',')) out.push_back(f);
    if (!s.empty() && s.back() == ',') out.emplace_back();
    return out;
  };
  if (!std::getline(in, line)) return rows;
  header = split(line);
  while (std::getline(in, line)) {
    auto fields = split(line);
    std::map<std::string, std::string> row;
    for (std::size_t i = 0; i < header.size() && i < fields.size(); ++i) row[header[i]] = fields[i];
    rows.push_back(std::move(row));
  }
  return rows;
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  ///< stdout and stderr together
};

/// Runs a shell command and captures its output and exit code.
inline CommandResult run_command(const std::string& command) {
  const std::string cmd = command + " 2>&1";
  CommandResult r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

/// Runs the hetsim CLI with `args` (shell-quoted by the caller) and captures its output.
/// Runs the hetsim CLI with HETSIM_SHARED_DATA set to shared_data(), which the shipped replay
/// scenarios' trace paths start from.
inline CommandResult run_hetsim(const std::string& args) {
  return run_command("HETSIM_SHARED_DATA='" + shared_data() + "' '" + HETSIM_BIN + "' " + args);
}

}  // namespace hetsim::test
