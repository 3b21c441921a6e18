#pragma once
// Result files are written under a temporary name and renamed into place only when the whole run
// succeeded, so nothing half-written ever looks complete. Writes are buffered (results can be
// millions of rows).
#include <fmt/compile.h>
#include <fmt/format.h>

#include <cstdio>
#include <string>

namespace hetsim {

class AtomicFile {
 public:
  /// Opens "<path>.tmp" for writing; InputError if the folder is not writable.
  explicit AtomicFile(std::string path);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  /// Removes the temporary file unless committed.
  ~AtomicFile();

  template <class... Args>
  void print(fmt::format_string<Args...> format, Args&&... args) {
    fmt::format_to(std::back_inserter(buffer_), format, std::forward<Args>(args)...);
    if (buffer_.size() > (1u << 20)) flush();
  }
  /// Like print, with a format compiled at build time (FMT_COMPILE): for per-step hot paths.
  template <class S, class... Args>
  void print_compiled(const S& format, Args&&... args) {
    fmt::format_to(std::back_inserter(buffer_), format, std::forward<Args>(args)...);
    if (buffer_.size() > (1u << 20)) flush();
  }
  void write(std::string_view text) {
    buffer_.append(text.data(), text.data() + text.size());
    if (buffer_.size() > (1u << 20)) flush();
  }
  /// Flushes and closes the temporary file (call for every file before committing any).
  void close();
  /// Renames the closed temporary file onto the final path.
  void commit();
  const std::string& path() const { return path_; }

 private:
  void flush();
  std::string path_;
  std::string tmp_;
  std::FILE* file_ = nullptr;
  fmt::memory_buffer buffer_;
  bool committed_ = false;
};

}  // namespace hetsim
