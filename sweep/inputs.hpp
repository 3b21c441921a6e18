#pragma once
// The fingerprint of a sweep's inputs, kept in OUT/inputs.json: the spec file's text, every file
// the points' scenarios read (the base scenario, the catalog presets under hw/ and models/, traces,
// length tables, profiles) and each point's effective configuration (its resolved.yaml). A sweep
// that finds finished points under --out compares the fingerprint first, so it never mixes points
// of two different inputs in points.csv.
#include <map>
#include <string>
#include <vector>

namespace hetsim::sweep {

struct Inputs {
  std::string spec_file;                       ///< absolute
  std::string spec_hash;                       ///< of its text
  std::map<std::string, std::string> files;    ///< absolute path -> content hash
  std::map<std::string, std::string> points;   ///< point name -> hash of its effective configuration(s)

  std::string to_json() const;
  /// Reads `path`; false if it does not exist; InputError if it is not a fingerprint.
  static bool load(const std::string& path, Inputs& out);
};

/// What differs between `before` (recorded) and `now`, one phrase each; empty if nothing.
std::vector<std::string> differences(const Inputs& before, const Inputs& now);

}  // namespace hetsim::sweep
