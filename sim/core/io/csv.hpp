#pragma once
// Minimal reader for the unquoted, comma-separated traces hetsim replays: columns found by header
// name, every error located as "file:line".
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace hetsim::workload {

class CsvReader {
 public:
  /// Opens `path` and reads its header; errors if it cannot be opened or is empty.
  explicit CsvReader(const std::string& path);
  /// Index of column `name`; error listing the header if absent.
  std::size_t column(const std::string& name) const;
  /// Index of column `name` if the header has it (optional columns).
  std::optional<std::size_t> find_column(const std::string& name) const;
  /// Advances to the next non-empty line; false at end of file.
  bool next();
  const std::string& field(std::size_t index) const { return fields_[index]; }
  /// Field parsed as an integer >= 1.
  std::int64_t positive_int(std::size_t index) const;
  /// Throws InputError "file:line: message".
  [[noreturn]] void fail(const std::string& message) const;
  std::size_t line() const { return line_; }

 private:
  std::string path_;
  std::ifstream in_;
  std::vector<std::string> header_;
  std::vector<std::string> fields_;
  std::string text_;
  std::size_t line_ = 0;
};

}  // namespace hetsim::workload
