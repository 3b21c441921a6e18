#include "sim/core/io/csv.hpp"

#include <fmt/format.h>

#include <charconv>

#include "sim/core/error.hpp"

namespace hetsim::workload {
namespace {
void split(const std::string& line, std::vector<std::string>& out) {
  out.clear();
  std::size_t start = 0;
  while (true) {
    const auto comma = line.find(',', start);
    std::string f = line.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!f.empty() && (f.back() == '\r' || f.back() == ' ')) f.pop_back();
    while (!f.empty() && f.front() == ' ') f.erase(f.begin());
    out.push_back(std::move(f));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
}
}  // namespace

CsvReader::CsvReader(const std::string& path) : path_(path), in_(path) {
  if (!in_) throw InputError(fmt::format("{}: cannot open file", path));
  if (!std::getline(in_, text_)) throw InputError(fmt::format("{}:1: empty file, expected a CSV header", path));
  line_ = 1;
  if (text_.rfind("\xEF\xBB\xBF", 0) == 0) text_.erase(0, 3);  // a UTF-8 byte order mark (Excel writes one)
  split(text_, header_);
}

std::optional<std::size_t> CsvReader::find_column(const std::string& name) const {
  for (std::size_t i = 0; i < header_.size(); ++i)
    if (header_[i] == name) return i;
  return std::nullopt;
}

std::size_t CsvReader::column(const std::string& name) const {
  if (const auto i = find_column(name)) return *i;
  std::string have;
  for (const auto& h : header_) have += (have.empty() ? "" : ", ") + h;
  throw InputError(fmt::format("{}:1: missing column '{}' (header has: {})", path_, name, have));
}

bool CsvReader::next() {
  while (std::getline(in_, text_)) {
    ++line_;
    if (text_.empty() || text_ == "\r") continue;
    split(text_, fields_);
    if (fields_.size() != header_.size())
      fail(fmt::format("expected {} fields like the header, got {}", header_.size(), fields_.size()));
    return true;
  }
  return false;
}

std::int64_t CsvReader::positive_int(std::size_t index) const {
  const std::string& f = fields_[index];
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
  if (ec != std::errc{} || p != f.data() + f.size() || v < 1)
    fail(fmt::format("{} = \"{}\": expected an integer >= 1", header_[index], f));
  return v;
}

void CsvReader::fail(const std::string& message) const {
  throw InputError(fmt::format("{}:{}: {}", path_, line_, message));
}

}  // namespace hetsim::workload
