#include "sim/core/io/result_folder.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

#include <fmt/format.h>

#include "sim/core/error.hpp"

namespace hetsim {
namespace fs = std::filesystem;

namespace {
std::string random_suffix() {
  std::random_device rd;
  return fmt::format("{}-{:08x}", ::getpid(), rd());
}
bool is_marker(const std::string& name) {
  for (const char* m : {"summary.json", "resolved.yaml", "requests.csv", "steps.csv", "step_windows.csv", "timeline.json", "point.json",
                        "log.txt", "metrics_schema.json"})
    if (name == m) return true;
  return name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0;
}
}  // namespace

ResultFolder::ResultFolder(const std::string& dir) : given_(dir) {
  fs::path p = fs::path(dir).lexically_normal();
  if (!p.empty() && p.filename().empty()) p = p.parent_path();  // "a/b/" -> "a/b"
  const std::string leaf = p.filename().string();
  if (leaf.empty() || leaf == "." || leaf == "..")
    throw InputError(fmt::format("--out {}: name a result folder (not the current, parent or root folder)", dir));
  dir_ = p.string();
  const fs::path parent = p.has_parent_path() ? p.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) throw InputError(fmt::format("--out {}: cannot create folder {} ({})", dir, parent.string(), ec.message()));

  lock_path_ = dir_ + ".lock";
  for (;;) {
    lock_fd_ = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0)
      throw InputError(fmt::format("--out {}: cannot create lock {} ({})", dir, lock_path_, std::strerror(errno)));
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      const int e = errno;
      ::close(lock_fd_);
      lock_fd_ = -1;
      if (e == EWOULDBLOCK)
        throw InputError(fmt::format("--out {}: another hetsim run is writing this folder ({} is locked); "
                                     "wait for it or choose another --out",
                                     dir, lock_path_));
      throw InputError(fmt::format("--out {}: cannot lock {} ({})", dir, lock_path_, std::strerror(e)));
    }
    // The previous holder unlinks the lock file before releasing it: retry if we locked a removed file.
    struct stat held, now;
    if (::fstat(lock_fd_, &held) == 0 && ::stat(lock_path_.c_str(), &now) == 0 && held.st_ino == now.st_ino &&
        held.st_dev == now.st_dev)
      break;
    ::close(lock_fd_);
    lock_fd_ = -1;
  }
  try {
    // We hold the lock, so private folders of other runs into DIR are leftovers of killed runs.
    const std::string tmp_prefix = leaf + ".tmp-", old_prefix = leaf + ".old-";
    for (const auto& e : fs::directory_iterator(parent, ec)) {
      const std::string n = e.path().filename().string();
      if (n.rfind(tmp_prefix, 0) == 0 || n.rfind(old_prefix, 0) == 0) fs::remove_all(e.path(), ec);
    }
    const auto st = fs::symlink_status(p, ec);
    if (fs::exists(st)) {
      if (!fs::is_directory(st)) throw InputError(fmt::format("--out {}: exists and is not a folder", dir));
      bool empty = true, marked = false, subfolder = false;
      for (const auto& e : fs::directory_iterator(p)) {
        empty = false;
        if (is_marker(e.path().filename().string())) marked = true;
        if (e.is_directory()) subfolder = true;
      }
      if (!empty && (!marked || subfolder))
        throw InputError(fmt::format("--out {}: exists and does not hold a hetsim run (it would be replaced); "
                                     "choose another --out",
                                     dir));
      had_previous_ = !empty;
    }
    staging_ = dir_ + ".tmp-" + random_suffix();
    if (!fs::create_directory(staging_, ec) || ec)
      throw InputError(fmt::format("--out {}: cannot create {} ({})", dir, staging_, ec.message()));
  } catch (...) {
    ::unlink(lock_path_.c_str());
    ::close(lock_fd_);
    throw;
  }
}

ResultFolder::~ResultFolder() {
  std::error_code ec;
  if (!published_ && !staging_.empty()) fs::remove_all(staging_, ec);
  if (lock_fd_ >= 0) {
    ::unlink(lock_path_.c_str());
    ::close(lock_fd_);
  }
}

void ResultFolder::publish() {
  std::error_code ec;
  for (const auto& name : carry_) {
    const fs::path from = fs::path(dir_) / name, to = fs::path(staging_) / name;
    if (!fs::exists(from, ec) || fs::exists(to, ec)) continue;
    if (::link(from.c_str(), to.c_str()) != 0) fs::copy_file(from, to);
  }
  if (!fs::exists(dir_, ec)) {
    fs::rename(staging_, dir_);
  } else if (::renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD, dir_.c_str(), RENAME_EXCHANGE) == 0) {
    // staging_ now holds the earlier run.
    published_ = true;
    fs::remove_all(staging_, ec);
    return;
  } else {
    // No atomic exchange on this file system: rename the earlier run aside, the new one in.
    const std::string old = dir_ + ".old-" + random_suffix();
    fs::rename(dir_, old);
    if (::rename(staging_.c_str(), dir_.c_str()) != 0) {
      const int e = errno;
      ::rename(old.c_str(), dir_.c_str());
      throw std::runtime_error(fmt::format("{}: cannot move {} into place ({})", dir_, staging_, std::strerror(e)));
    }
    published_ = true;
    fs::remove_all(old, ec);
    return;
  }
  published_ = true;
}

}  // namespace hetsim
