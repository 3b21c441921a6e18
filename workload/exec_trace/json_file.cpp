#include "workload/exec_trace/json_file.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <filesystem>
#include <memory>

#include "sim/core/error.hpp"
#include "sim/core/io/input_files.hpp"

namespace hetsim::exec_trace {
namespace {
/// zlib's message without the "path: " it puts in front.
std::string zlib_reason(gzFile file, const std::string& path) {
  int code = 0;
  std::string why = gzerror(file, &code);
  if (why.rfind(path + ": ", 0) == 0) why.erase(0, path.size() + 2);
  return why;
}
}  // namespace

std::string read_maybe_gzip(const std::string& path, std::size_t max_bytes) {
  if (!input_files::is_file(path)) throw InputError(path + ": no such file");
  // gzread passes a file that is not gzip through unchanged, so one path reads both; it also
  // reads concatenated gzip members, as `cat a.gz b.gz` makes.
  std::unique_ptr<gzFile_s, int (*)(gzFile)> file(gzopen(path.c_str(), "rb"), gzclose);
  if (!file) throw InputError(path + ": cannot open");
  gzbuffer(file.get(), 1 << 20);
  std::string text;
  constexpr unsigned kChunk = 1 << 20;
  for (;;) {
    const std::size_t at = text.size();
    // Read one byte more than allowed so that a file of exactly max_bytes passes and one more fails.
    const std::size_t room = max_bytes + 1 - at;
    const unsigned want = room < kChunk ? static_cast<unsigned>(room) : kChunk;
    text.resize(at + want);
    const int got = gzread(file.get(), text.data() + at, want);
    if (got < 0) throw InputError(fmt::format("{}: corrupt gzip data after {} bytes ({})", path, at, zlib_reason(file.get(), path)));
    text.resize(at + static_cast<std::size_t>(got));
    if (text.size() > max_bytes)
      throw InputError(fmt::format("{}: more than {} bytes after decompression; refusing to read it", path, max_bytes));
    if (got == 0) break;
  }
  // A gzip stream cut short reads as a clean end of file with Z_BUF_ERROR set ("unexpected end of
  // file"); without this check a truncated trace would parse as far as it goes or fail as bad JSON.
  int code = Z_OK;
  gzerror(file.get(), &code);
  if (code != Z_OK)
    throw InputError(fmt::format("{}: truncated or corrupt gzip data after {} bytes ({})", path, text.size(), zlib_reason(file.get(), path)));
  return text;
}

nlohmann::json read_json_file(const std::string& path, std::size_t max_bytes) {
  const std::string text = read_maybe_gzip(path, max_bytes);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(fmt::format("{}: not valid JSON at byte {}: {}", path, e.byte, e.what()));
  }
}

}  // namespace hetsim::exec_trace
