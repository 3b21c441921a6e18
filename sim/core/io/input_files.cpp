#include "sim/core/io/input_files.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iterator>

namespace hetsim::input_files {
namespace {
thread_local Capture* active = nullptr;
}

Capture::Capture() : outer_(active) { active = this; }
Capture::~Capture() { active = outer_; }

void note(const std::string& path) {
  if (active == nullptr) return;
  std::error_code ec;
  auto p = std::filesystem::absolute(path, ec);
  active->files_.insert((ec ? std::filesystem::path(path) : p).lexically_normal().string());
}

bool is_file(const std::string& path) noexcept {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) && !ec;
}

std::string fnv1a_hex(std::string_view bytes) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return fmt::format("{:016x}", h);
}

std::string file_hash(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "missing";
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return "missing";
  return fnv1a_hex(text);
}

}  // namespace hetsim::input_files
