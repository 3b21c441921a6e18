#pragma once
// The files a configuration reads: a scenario file, the catalog presets it names, and the traces,
// length tables and profiles its keys point to. While an InputFiles::Capture is alive on a thread,
// every file read through config::Document::load_file or named by config::Node::file_path on that
// thread is recorded (as an absolute, normalized path). The sweep fingerprints these files so that
// a resumed sweep can tell whether its inputs changed.
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

namespace hetsim::input_files {

class Capture {
 public:
  Capture();
  ~Capture();
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;
  const std::set<std::string>& files() const { return files_; }

 private:
  friend void note(const std::string& path);
  std::set<std::string> files_;
  Capture* outer_;
};

/// Records `path` in the innermost Capture alive on this thread (none: does nothing).
void note(const std::string& path);

/// Whether `path` names a regular file. Never throws: a path from user input may be too long or
/// otherwise unusable for the OS, and that is simply "no such file" (std::filesystem's throwing
/// overloads would escape as filesystem_error instead of the caller's InputError).
bool is_file(const std::string& path) noexcept;

/// 64-bit FNV-1a of `bytes`, as 16 hex digits (change detection, not security).
std::string fnv1a_hex(std::string_view bytes);
/// fnv1a_hex of the file's bytes; "missing" if it cannot be read.
std::string file_hash(const std::string& path);

}  // namespace hetsim::input_files
