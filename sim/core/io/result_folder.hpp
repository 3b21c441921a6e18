#pragma once
// A result folder is all-or-nothing. A run writes into a private folder beside the target
// (DIR.tmp-<pid>-<random>) and publish() swaps it into place atomically (renameat2 EXCHANGE, or
// rename the old folder aside, rename the new one in, remove the old), so a reader sees either the
// earlier complete run or the new complete run, never files of both, and no file of an earlier run
// survives a new one. DIR.lock (flock) keeps a second run from writing the same DIR at the same
// time; the kernel drops the lock with the process. Until publish() the earlier DIR is untouched;
// the destructor removes the private folder of an unpublished run.
#include <string>
#include <vector>

namespace hetsim {

class ResultFolder {
 public:
  /// Locks DIR (InputError naming DIR if another run holds it), removes private folders left by
  /// killed runs and creates a fresh one. InputError if DIR exists and is not a result folder.
  explicit ResultFolder(const std::string& dir);
  ResultFolder(const ResultFolder&) = delete;
  ResultFolder& operator=(const ResultFolder&) = delete;
  ~ResultFolder();

  /// The target folder, as given.
  const std::string& dir() const { return given_; }
  /// The private folder the run writes into.
  const std::string& staging() const { return staging_; }
  /// True if DIR held an earlier run when this one started.
  bool had_previous() const { return had_previous_; }
  /// Keep DIR/`name` (if present at publish time) in the new folder: a hard link, so a file still
  /// being written (a log the caller redirected there) stays the same file.
  void carry(std::string name) { carry_.push_back(std::move(name)); }
  /// Moves the private folder into place of DIR (all files must be closed).
  void publish();

 private:
  std::string given_, dir_, staging_, lock_path_;
  int lock_fd_ = -1;
  bool had_previous_ = false;
  bool published_ = false;
  std::vector<std::string> carry_;
};

}  // namespace hetsim
