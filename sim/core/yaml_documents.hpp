#pragma once
// The documents of a YAML text, found without YAML::LoadAll: Debian's yaml-cpp 0.7 loops forever
// (allocating a null document per turn) on input such as ",", because its parser can return a
// document without consuming the token it could not read (yaml-cpp issue #1040, fixed upstream
// by PR #1319 after 0.8). The fuzzer found it with a four-byte sweep spec (",bai").
#include <string>
#include <vector>

namespace hetsim::config {

struct YamlDocument {
  bool has_content = false;  ///< anything but an empty (null) document
  int line = 0;              ///< 1-based line of its first node
  int column = 0;            ///< 1-based column of its first node
};

/// Scans `text` and lists its documents. A document the parser produced without moving forward
/// is the token it cannot read: an InputError "NAME:LINE:COL: YAML syntax error: ...". Syntax
/// errors yaml-cpp reports are InputErrors in the same form.
std::vector<YamlDocument> scan_yaml_documents(const std::string& text, const std::string& name);

}  // namespace hetsim::config
