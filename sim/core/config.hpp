#pragma once
// Typed, located access to YAML configuration (scenarios, catalogs). Plugins see `config::Node`,
// never yaml-cpp types. Every read is recorded so that
//   * keys nobody read are reported as unknown, with the closest valid key (`Document::check_unknown_keys`);
//   * the fully resolved configuration (defaults filled in) can be written next to the results.
// Errors name "file:line: key.path = value: expectation" and are thrown as InputError (exit code 2).
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "sim/core/error.hpp"
#include "sim/core/units.hpp"

namespace hetsim::config {

class Node;

namespace detail {
/// Bookkeeping shared by all Node handles of one loaded file.
struct DocState {
  std::string file;
  std::map<std::string, std::string> overridden;  // key path set by an override -> where it came from
};
/// One YAML map seen through a Node: which keys were looked up.
struct MapState {
  YAML::Node input;
  std::string path;
  std::shared_ptr<DocState> doc;
  std::set<std::string> known;
};
struct Registry;  // all MapStates of a document
}  // namespace detail

template <class T>
class Param;
class QuantityParam;

/// A handle on one value of a configuration tree, possibly layered over a preset (fallback).
class Node {
 public:
  Node(const Node& other);
  Node& operator=(const Node& other);
  /// Path of this node from the document root, e.g. "policies.scheduler".
  const std::string& path() const { return path_; }
  /// "file:line" of this node, or "--set key" when it came from the command line.
  std::string where() const;
  /// "file:line: path" prefix for messages about this node.
  std::string locate() const;
  /// Location prefix for a child key (which may be absent).
  std::string locate(std::string_view key) const;

  bool is_map() const { return input_.IsMap(); }
  bool is_sequence() const { return input_.IsSequence(); }
  bool is_scalar() const { return input_.IsScalar(); }
  bool is_null() const { return !input_ || input_.IsNull(); }
  /// The scalar text of this node.
  std::string scalar() const;
  /// This node as an error message shows a bad value: its scalar text, or "<map>" / "<list>".
  std::string shown() const;

  /// Whether `key` is given here or in the fallback preset. Marks the key as known.
  bool has(std::string_view key) const;
  /// A required child (map, sequence or scalar); error if missing.
  Node child(std::string_view key) const;
  /// An optional child.
  std::optional<Node> maybe(std::string_view key) const;
  /// An optional map section: the child if given, else an empty map whose defaults still get
  /// recorded in the resolved configuration.
  Node section(std::string_view key) const;
  /// Children of a sequence node.
  std::vector<Node> items() const;
  /// Keys of a map node given at this level, in document order.
  std::vector<std::string> keys() const;
  /// Keys of a map node here and in the preset beneath (a scenario adding to a catalog entry's
  /// named map): this level's in document order, then the preset's not given here.
  std::vector<std::string> all_keys() const;

  /// Typed scalar access: `node.get<int>("chunk_size").default_to(512).in_range(1, 65536)`.
  template <class T>
  Param<T> get(std::string_view key) const;
  /// Unit-aware access: `node.quantity("capacity", units::Dim::bytes).required()`.
  QuantityParam quantity(std::string_view key, units::Dim dim) const;

  /// A file path: relative paths resolve against the directory of the file that holds the key
  /// (the working directory for --set values); "${HETSIM_SHARED_DATA}/..." under that folder (see
  /// shared_data_path). Errors unless the file exists.
  std::string file_path(std::string_view key) const;

  /// Layers this node over `preset`: keys missing here are read from the preset.
  Node over(const Node& preset) const;

  /// Throws InputError "file:line: path: message".
  [[noreturn]] void fail(std::string_view message) const;
  /// Throws InputError about child `key` holding `value`.
  [[noreturn]] void fail_key(std::string_view key, std::string_view value, std::string_view expected) const;

  /// The resolved (effective) value tree below this node.
  YAML::Node resolved() const { return resolved_; }

 private:
  friend class Document;
  template <class T>
  friend class Param;
  friend class QuantityParam;
  Node(YAML::Node input, YAML::Node resolved, std::string path, std::shared_ptr<detail::DocState> doc,
       std::shared_ptr<detail::Registry> registry);
  /// The node holding `key` (this or the fallback), marking it known; nullopt if absent in both.
  std::optional<Node> lookup(std::string_view key) const;
  detail::MapState& map_state() const;
  void record(std::string_view key, const YAML::Node& value) const;

  YAML::Node input_;
  mutable YAML::Node resolved_;
  std::string path_;
  std::shared_ptr<detail::DocState> doc_;
  std::shared_ptr<detail::Registry> registry_;
  std::shared_ptr<Node> fallback_;
  int key_line_ = 0;  ///< line of the key that holds this node (a block map's own mark is its first entry)
};

/// A loaded YAML file (or string) with --set overrides applied.
class Document {
 public:
  /// Loads a file; a missing or malformed file is an InputError naming it.
  static Document load_file(const std::string& path);
  /// Parses YAML text; `name` stands for the file in messages.
  static Document load_string(const std::string& text, const std::string& name);

  /// Applies "a.b.c=value" (value parsed as YAML) before the document is read. Messages about the
  /// key use `origin` as its whole location (default "--set a.b.c"; a sweep passes "spec.yaml:7: axes.a.b.c").
  void set_override(std::string_view assignment, std::string origin = "");

  Node root() const;
  /// Errors on the first key (in file order) that no reader looked up, suggesting the closest known key.
  void check_unknown_keys() const;
  /// The effective configuration: every value read, with defaults filled in.
  YAML::Node resolved() const { return resolved_; }
  const std::string& file() const { return doc_->file; }

 private:
  Document(YAML::Node input, std::string file);
  YAML::Node input_;
  YAML::Node resolved_;
  std::shared_ptr<detail::DocState> doc_;
  std::shared_ptr<detail::Registry> registry_;
};

/// Closest candidate by edit distance, or "" if none is reasonably close.
std::string closest(std::string_view word, const std::vector<std::string>& candidates);

// ---------------------------------------------------------------------------------------------

namespace detail {
template <class T>
bool convert(const std::string& text, T& out);
template <class T>
std::string_view type_name();
template <class T>
std::string show_plain(const T& v) {
  if constexpr (std::is_same_v<T, std::string>)
    return v;
  else if constexpr (std::is_same_v<T, bool>)
    return v ? "true" : "false";
  else
    return fmt::format("{}", v);
}
template <class T>
std::string show(const T& v) {
  if constexpr (std::is_same_v<T, std::string>)
    return fmt::format("\"{}\"", v);
  else if constexpr (std::is_same_v<T, bool>)
    return v ? "true" : "false";
  else
    return fmt::format("{}", v);
}
}  // namespace detail

/// A typed key read lazily on conversion, after its rules are declared.
template <class T>
class Param {
 public:
  Param(Node node, std::string key) : node_(std::move(node)), key_(std::move(key)) {}
  Param&& required() && { return std::move(*this); }
  Param&& default_to(T value) && {
    default_ = std::move(value);
    return std::move(*this);
  }
  Param&& in_range(T lo, T hi) && {
    lo_ = lo;
    hi_ = hi;
    return std::move(*this);
  }
  Param&& at_least(T lo) && {
    lo_ = lo;
    return std::move(*this);
  }
  Param&& one_of(std::vector<T> choices) && {
    choices_ = std::move(choices);
    return std::move(*this);
  }
  /// Reads, validates and records the value.
  T value() const {
    auto src = node_.lookup(key_);
    T out{};
    if (!src) {
      if (!default_) node_.fail(fmt::format("missing required key '{}' ({})", key_, detail::type_name<T>()));
      out = *default_;
    } else {
      const Node& holder = *src;
      YAML::Node raw = holder.input_[key_];
      if (!raw.IsScalar())
        holder.fail_key(key_, raw.IsMap() ? "<map>" : "<list>", fmt::format("expected {}", detail::type_name<T>()));
      const std::string text = raw.Scalar();
      if (!detail::convert(text, out)) holder.fail_key(key_, text, fmt::format("expected {}", detail::type_name<T>()));
      check(holder, text, out);
    }
    // Record the text as given (or the default in shortest round-trip form), not yaml-cpp's
    // 17-digit rendering of doubles.
    node_.record(key_, YAML::Node(src ? src->input_[key_].Scalar() : detail::show_plain(out)));
    return out;
  }
  operator T() const { return value(); }  // NOLINT: reads like a plain value at the call site

 private:
  void check(const Node& holder, const std::string& text, const T& v) const {
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
      if ((lo_ && v < *lo_) || (hi_ && v > *hi_)) {
        std::string expect = hi_ ? fmt::format("expected {} in [{}, {}]", detail::type_name<T>(), lo_.value_or(v), *hi_)
                                 : fmt::format("expected {} >= {}", detail::type_name<T>(), *lo_);
        holder.fail_key(key_, text, expect);
      }
    }
    if (choices_) {
      for (const auto& c : *choices_)
        if (c == v) return;
      std::string valid;
      for (const auto& c : *choices_) valid += (valid.empty() ? "" : ", ") + detail::show(c);
      holder.fail_key(key_, text, fmt::format("expected one of {}", valid));
    }
  }
  Node node_;
  std::string key_;
  std::optional<T> default_;
  std::optional<T> lo_, hi_;
  std::optional<std::vector<T>> choices_;
};

/// A unit-aware key; the value is returned in SI base units.
class QuantityParam {
 public:
  QuantityParam(Node node, std::string key, units::Dim dim) : node_(std::move(node)), key_(std::move(key)), dim_(dim) {}
  QuantityParam&& required() && { return std::move(*this); }
  /// Default given as text with its unit, e.g. "2 GiB".
  QuantityParam&& default_to(std::string text) && {
    default_ = std::move(text);
    return std::move(*this);
  }
  QuantityParam&& positive() && {
    positive_ = true;
    return std::move(*this);
  }
  QuantityParam&& non_negative() && {
    non_negative_ = true;
    return std::move(*this);
  }
  double value() const;
  operator double() const { return value(); }  // NOLINT

 private:
  Node node_;
  std::string key_;
  units::Dim dim_;
  std::optional<std::string> default_;
  bool positive_ = false;
  bool non_negative_ = false;
};

template <class T>
Param<T> Node::get(std::string_view key) const {
  return Param<T>(*this, std::string(key));
}

/// The prefix of a path in the folder of public traces and measurements, wherever a user keeps it:
/// shipped scenarios name the traces they replay this way (the data is not part of the project).
inline constexpr std::string_view kSharedData = "${HETSIM_SHARED_DATA}";
/// `text` ("${HETSIM_SHARED_DATA}/...") under the folder that environment variable names; nullopt
/// for text without the prefix. `holder` fails if the variable is not set.
std::optional<std::string> shared_data_path(const Node& holder, const std::string& text);

}  // namespace hetsim::config
