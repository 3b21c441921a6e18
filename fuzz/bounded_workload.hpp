#pragma once
// The scenario targets fuzz parsing and validation, not the cost of valid but huge runs: a
// scenario asking for four billion requests or 100,000 replicas is legal and is simply slow to
// build. These bounds skip such inputs so that a slow or memory-hungry input means a defect.
// They apply to the key names below wherever they appear, and to `--set` assignments to them.
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <string>
#include <string_view>

namespace hetsim::fuzz {

struct SizeBound {
  std::string_view key;
  double max;  ///< a numeric value above this skips the input; a non-numeric one is left to the loader
};

inline constexpr SizeBound kSizeBounds[] = {
    {"num_requests", 2000}, {"replicas", 64}, {"count", 64}, {"nodes", 64}, {"concurrency", 1000}, {"limit", 2000},
    {"sessions", 50},  // each up to 1,000 turns of up to 2^20 tokens (workload/sessions.cpp)
    {"documents", 100000}, {"chunks", 64},  // workload.rag: a popularity table per document, ids per chunk
};

/// True if `value` given to `key` would make the scenario legal but too big to build quickly.
/// `duration` (synthetic load for a time span) is skipped whatever its value: its size is rate × span.
inline bool too_big(std::string_view key, const std::string& value) {
  if (key == "duration") return true;
  for (const auto& b : kSizeBounds)
    if (key == b.key) {
      char* end = nullptr;
      const double v = std::strtod(value.c_str(), &end);
      return end != value.c_str() && v > b.max;
    }
  return false;
}

/// Walks a parsed YAML tree for keys that would make the scenario too big (see too_big).
inline bool too_big(const YAML::Node& node, int depth = 0) {
  if (depth > 64) return true;  // nesting no scenario has; yaml-cpp itself recurses on it
  if (node.IsMap()) {
    for (const auto& kv : node) {
      if (kv.first.IsScalar() && kv.second.IsScalar() && too_big(kv.first.Scalar(), kv.second.Scalar())) return true;
      if (kv.first.IsScalar() && kv.first.Scalar() == "duration") return true;
      if (too_big(kv.second, depth + 1)) return true;
    }
  } else if (node.IsSequence()) {
    for (const auto& item : node)
      if (too_big(item, depth + 1)) return true;
  }
  return false;
}

}  // namespace hetsim::fuzz
