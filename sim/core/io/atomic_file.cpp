#include "sim/core/io/atomic_file.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "sim/core/error.hpp"

namespace hetsim {

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp") {
  file_ = std::fopen(tmp_.c_str(), "wb");
  if (!file_) throw InputError(fmt::format("{}: cannot write ({})", tmp_, std::strerror(errno)));
}

AtomicFile::~AtomicFile() {
  if (file_) std::fclose(file_);
  if (!committed_) std::remove(tmp_.c_str());
}

void AtomicFile::flush() {
  if (buffer_.size() && std::fwrite(buffer_.data(), 1, buffer_.size(), file_) != buffer_.size())
    throw std::runtime_error(fmt::format("{}: write failed ({})", tmp_, std::strerror(errno)));
  buffer_.clear();
}

void AtomicFile::close() {
  if (!file_) return;
  flush();
  const bool ok = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!ok) throw std::runtime_error(fmt::format("{}: close failed ({})", tmp_, std::strerror(errno)));
}

void AtomicFile::commit() {
  close();
  std::filesystem::rename(tmp_, path_);
  committed_ = true;
}

}  // namespace hetsim
