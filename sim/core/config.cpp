#include "sim/core/config.hpp"

#include "sim/core/io/input_files.hpp"
#include "sim/core/yaml_documents.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

namespace hetsim::config {

namespace detail {
struct Registry {
  std::map<std::string, std::shared_ptr<MapState>> maps;  // by key path
};

template <class T>
bool convert_integer(const std::string& text, T& out) {
  const char* b = text.data();
  const char* e = b + text.size();
  if (b != e && *b == '+') ++b;
  auto [p, ec] = std::from_chars(b, e, out);
  return ec == std::errc{} && p == e;
}
template <>
bool convert<int>(const std::string& t, int& o) { return convert_integer(t, o); }
template <>
bool convert<long>(const std::string& t, long& o) { return convert_integer(t, o); }
template <>
bool convert<long long>(const std::string& t, long long& o) { return convert_integer(t, o); }
template <>
bool convert<unsigned long>(const std::string& t, unsigned long& o) { return convert_integer(t, o); }
template <>
bool convert<double>(const std::string& t, double& o) {
  if (t.empty()) return false;
  char* end = nullptr;
  o = std::strtod(t.c_str(), &end);
  return end == t.c_str() + t.size() && std::isfinite(o);
}
template <>
bool convert<bool>(const std::string& t, bool& o) {
  if (t == "true" || t == "True" || t == "yes") return o = true, true;
  if (t == "false" || t == "False" || t == "no") return o = false, true;
  return false;
}
template <>
bool convert<std::string>(const std::string& t, std::string& o) {
  o = t;
  return true;
}
template <>
std::string_view type_name<int>() { return "an integer"; }
template <>
std::string_view type_name<long>() { return "an integer"; }
template <>
std::string_view type_name<long long>() { return "an integer"; }
template <>
std::string_view type_name<unsigned long>() { return "a non-negative integer"; }
template <>
std::string_view type_name<double>() { return "a number"; }
template <>
std::string_view type_name<bool>() { return "true or false"; }
template <>
std::string_view type_name<std::string>() { return "a string"; }
}  // namespace detail

namespace {
std::string join_path(const std::string& base, std::string_view key) {
  return base.empty() ? std::string(key) : fmt::format("{}.{}", base, key);
}
int line_of(const YAML::Node& n) { return n ? n.Mark().line + 1 : 0; }

// yaml-cpp 0.7 keeps every pair of a map but lookups see only the first, so a key given twice
// would silently lose its second value: keys must be plain scalars, each given once per map.
void check_keys(const YAML::Node& n, const std::string& path, const std::string& file) {
  if (n.IsSequence()) {
    for (std::size_t i = 0; i < n.size(); ++i) check_keys(n[i], fmt::format("{}[{}]", path, i), file);
  } else if (n.IsMap()) {
    std::map<std::string, int> seen;
    for (const auto& kv : n) {
      const int line = kv.first.Mark().line + 1;
      if (!kv.first.IsScalar())
        throw InputError(fmt::format("{}:{}: {}{} used as a map key: expected a plain key (a name)", file, line,
                                     path.empty() ? "" : path + ": ",
                                     kv.first.IsSequence() ? "a list" : kv.first.IsMap() ? "a map" : "an empty value"));
      const std::string full = join_path(path, kv.first.Scalar());
      const auto [first, fresh] = seen.emplace(kv.first.Scalar(), line);
      if (!fresh)
        throw InputError(fmt::format("{}:{}: {}: duplicate key (first given on line {}): expected each key once", file,
                                     line, full, first->second));
      check_keys(kv.second, full, file);
    }
  }
}

// YAML is text: refuse a binary file (bytes that are not UTF-8, or control characters) by line.
void check_text(const std::string& text, const std::string& file) {
  int line = 1;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 && c >= 0xC2 ? 2 : (c & 0xF0) == 0xE0 ? 3
                                   : (c & 0xF8) == 0xF0 && c <= 0xF4  ? 4 : 0;
    bool ok = len > 0 && i + len <= text.size() && (c >= 0x20 || c == '\t' || c == '\n' || c == '\r');
    for (std::size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
    if (!ok)
      throw InputError(fmt::format("{}:{}: not a UTF-8 text file (byte 0x{:02x}): expected a YAML file", file, line, c));
    if (c == '\n') ++line;
    i += len;
  }
}

// Parses one YAML document; a second document ("---" then content) is an error, not ignored.
YAML::Node parse_yaml(const std::string& text, const std::string& name) {
  const std::vector<YamlDocument> docs = scan_yaml_documents(text, name);
  for (std::size_t i = 1; i < docs.size(); ++i)
    if (docs[i].has_content)
      throw InputError(fmt::format("{}:{}: a second YAML document (after '---'): expected one document per file", name,
                                   docs[i].line));
  YAML::Node root;
  try {
    root = YAML::Load(text);  // the first document only; the scan has checked the text parses
  } catch (const YAML::Exception& e) {
    throw InputError(fmt::format("{}:{}:{}: YAML syntax error: {}", name, e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  check_keys(root, "", name);
  return root;
}
}  // namespace

Node::Node(YAML::Node input, YAML::Node resolved, std::string path, std::shared_ptr<detail::DocState> doc,
           std::shared_ptr<detail::Registry> registry)
    : input_(std::move(input)),
      resolved_(std::move(resolved)),
      path_(std::move(path)),
      doc_(std::move(doc)),
      registry_(std::move(registry)) {}

Node::Node(const Node& o)
    : input_(o.input_), resolved_(o.resolved_), path_(o.path_), doc_(o.doc_), registry_(o.registry_),
      fallback_(o.fallback_),
      key_line_(o.key_line_) {}

Node& Node::operator=(const Node& o) {
  // yaml-cpp's Node::operator= assigns *content*; rebind the handles instead.
  input_.reset(o.input_);
  resolved_.reset(o.resolved_);
  path_ = o.path_;
  doc_ = o.doc_;
  registry_ = o.registry_;
  fallback_ = o.fallback_;
  key_line_ = o.key_line_;
  return *this;
}

std::string Node::where() const {
  if (auto it = doc_->overridden.find(path_); it != doc_->overridden.end()) return it->second;
  const int line = key_line_ > 0 ? key_line_ : (input_ && input_.Mark().line >= 0) ? line_of(input_) : 0;
  return line > 0 ? fmt::format("{}:{}", doc_->file, line) : doc_->file;
}

std::string Node::locate() const { return path_.empty() ? where() : fmt::format("{}: {}", where(), path_); }

std::string Node::locate(std::string_view key) const {
  const std::string child_path = join_path(path_, key);
  if (auto it = doc_->overridden.find(child_path); it != doc_->overridden.end()) return it->second;
  const YAML::Node& in = input_;
  if (in.IsMap() && in[std::string(key)]) {
    const int line = line_of(in[std::string(key)]);
    if (line > 0) return fmt::format("{}:{}: {}", doc_->file, line, child_path);
  }
  return fmt::format("{}: {}", where(), child_path);
}

std::string Node::scalar() const {
  if (!input_.IsScalar()) fail("expected a single value");
  return input_.Scalar();
}

std::string Node::shown() const {
  if (is_scalar()) return input_.Scalar();
  return is_map() ? "<map>" : is_sequence() ? "<list>" : "<empty>";
}

detail::MapState& Node::map_state() const {
  auto& slot = registry_->maps[path_];
  if (!slot) slot = std::make_shared<detail::MapState>(detail::MapState{input_, path_, doc_, {}});
  return *slot;
}

std::optional<Node> Node::lookup(std::string_view key) const {
  const YAML::Node& in = input_;
  if (in && !in.IsNull() && !in.IsMap())
    fail(fmt::format("expected a map with key '{}', got {}", key, in.IsSequence() ? "a list" : "\"" + in.Scalar() + "\""));
  if (in.IsMap()) {
    map_state().known.insert(std::string(key));
    if (in[std::string(key)]) {
      if (fallback_) fallback_->lookup(key);  // the preset's value is overridden, not unknown
      return *this;
    }
  }
  if (fallback_) return fallback_->lookup(key);
  return std::nullopt;
}

bool Node::has(std::string_view key) const { return lookup(key).has_value(); }

void Node::record(std::string_view key, const YAML::Node& value) const { resolved_[std::string(key)] = value; }

Node Node::child(std::string_view key) const {
  auto c = maybe(key);
  if (!c) fail(fmt::format("missing required key '{}'", key));
  return *c;
}

std::optional<Node> Node::maybe(std::string_view key) const {
  auto holder = lookup(key);
  if (!holder) return std::nullopt;
  const std::string k(key);
  const YAML::Node& hin = holder->input_;
  Node c(hin[k], resolved_[k], join_path(path_, key), holder->doc_, holder->registry_);
  for (const auto& kv : hin)
    if (kv.first.Scalar() == k) c.key_line_ = kv.first.Mark().line + 1;
  if (c.input_.IsMap()) c.map_state();
  // A map given both here and in the preset: the preset's keys stay visible beneath ours.
  const YAML::Node& own = input_;
  const bool mine = own.IsMap() && own[k];
  if (mine && fallback_ && c.input_.IsMap()) {
    if (auto deeper = fallback_->maybe(key); deeper && deeper->input_.IsMap())
      c.fallback_ = std::make_shared<Node>(*deeper);
  }
  if (c.input_.IsScalar()) c.resolved_ = c.input_.Scalar();
  return c;
}

Node Node::section(std::string_view key) const {
  if (auto c = maybe(key)) {
    if (!c->is_map() && !c->is_null()) c->fail("expected a map of keys");
    return *c;
  }
  const std::string k(key);
  resolved_[k] = YAML::Node(YAML::NodeType::Map);
  return Node(YAML::Node(YAML::NodeType::Map), resolved_[k], join_path(path_, key), doc_, registry_);
}

std::vector<Node> Node::items() const {
  if (!input_.IsSequence()) fail("expected a list");
  std::vector<Node> out;
  const YAML::Node& in = input_;
  resolved_ = YAML::Node(YAML::NodeType::Sequence);
  for (std::size_t i = 0; i < in.size(); ++i) {
    resolved_.push_back(in[i].IsScalar() ? YAML::Node(in[i].Scalar()) : YAML::Node(YAML::NodeType::Map));
    Node c(in[i], resolved_[i], fmt::format("{}[{}]", path_, i), doc_, registry_);
    if (c.input_.IsMap()) c.map_state();
    out.push_back(c);
  }
  return out;
}

std::vector<std::string> Node::keys() const {
  std::vector<std::string> out;
  if (input_.IsMap())
    for (const auto& kv : input_) out.push_back(kv.first.as<std::string>());
  return out;
}

std::vector<std::string> Node::all_keys() const {
  std::vector<std::string> out = keys();
  if (fallback_)
    for (std::string& k : fallback_->all_keys())
      if (std::find(out.begin(), out.end(), k) == out.end()) out.push_back(std::move(k));
  return out;
}

std::string Node::file_path(std::string_view key) const {
  auto holder = lookup(key);
  if (!holder) fail(fmt::format("missing required key '{}' (a file path)", key));
  const std::string text = get<std::string>(key);
  namespace fs = std::filesystem;
  const auto shared = shared_data_path(holder->child(key), text);
  fs::path p(shared.value_or(text));
  const bool from_cli = holder->doc_->overridden.count(join_path(path_, key)) > 0;
  if (p.is_relative() && !from_cli && !shared) p = fs::path(holder->doc_->file).parent_path() / p;
  if (!input_files::is_file(p.string())) holder->fail_key(key, text, fmt::format("no such file ({})", p.string()));
  input_files::note(p.string());
  return p.lexically_normal().string();
}

std::optional<std::string> shared_data_path(const Node& holder, const std::string& text) {
  if (!text.starts_with(kSharedData)) return std::nullopt;
  const char* root = std::getenv("HETSIM_SHARED_DATA");
  if (root == nullptr || *root == '\0')
    holder.fail(fmt::format("{} is not set: set it to the folder holding the public traces (e.g. "
                            "HETSIM_SHARED_DATA=../shared/data, the project's data folder)", kSharedData));
  namespace fs = std::filesystem;
  return (fs::path(root) / fs::path(text.substr(kSharedData.size())).relative_path()).lexically_normal().string();
}

Node Node::over(const Node& preset) const {
  Node layered = *this;
  if (!input_.IsMap()) {
    // A bare preset name ("model: llama-3-8b") reads everything from the preset.
    layered.input_.reset(YAML::Node(YAML::NodeType::Map));
    resolved_ = YAML::Node(YAML::NodeType::Map);
    layered.resolved_.reset(resolved_);
  }
  layered.fallback_ = std::make_shared<Node>(preset);
  return layered;
}

void Node::fail(std::string_view message) const { throw InputError(fmt::format("{}: {}", locate(), message)); }

void Node::fail_key(std::string_view key, std::string_view value, std::string_view expected) const {
  throw InputError(fmt::format("{} = {}: {}", locate(key), value, expected));
}

QuantityParam Node::quantity(std::string_view key, units::Dim dim) const {
  return QuantityParam(*this, std::string(key), dim);
}

double QuantityParam::value() const {
  auto src = node_.lookup(key_);
  std::string text;
  const Node* holder = &node_;
  if (!src) {
    if (!default_)
      node_.fail(fmt::format("missing required key '{}' ({} such as \"{}\")", key_, units::describe(dim_),
                             units::example(dim_)));
    text = *default_;
  } else {
    holder = &*src;
    const YAML::Node& in = src->input_;
    const YAML::Node raw = in[key_];
    if (!raw.IsScalar())
      src->fail_key(key_, "<not a value>", fmt::format("expected {} such as \"{}\"", units::describe(dim_),
                                                       units::example(dim_)));
    text = raw.Scalar();
  }
  double v = 0;
  try {
    v = units::parse(text, dim_);
  } catch (const InputError& e) {
    // units::parse starts its message with the quoted text; keep only the expectation.
    std::string msg = e.what();
    const auto colon = msg.find(": ");
    holder->fail_key(key_, text, colon == std::string::npos ? msg : msg.substr(colon + 2));
  }
  if (positive_ && !(v > 0)) holder->fail_key(key_, text, fmt::format("expected {} > 0", units::describe(dim_)));
  if (non_negative_ && v < 0) holder->fail_key(key_, text, fmt::format("expected {} >= 0", units::describe(dim_)));
  // A bandwidth below any memory, disk or link's would make transfers run for ages of simulated
  // time (1e-30 TB/s: 1e30 s for a gigabyte) instead of failing; 0 stays "none" where allowed.
  if (dim_ == units::Dim::bandwidth && v > 0 && v < units::kMinBandwidth)
    holder->fail_key(key_, text, fmt::format("expected {} of at least {}{}", units::describe(dim_),
                                             units::format(units::kMinBandwidth, dim_), non_negative_ ? " (or 0)" : ""));
  node_.record(key_, YAML::Node(text));
  return v;
}

Document::Document(YAML::Node input, std::string file)
    : input_(std::move(input)),
      resolved_(YAML::NodeType::Map),
      doc_(std::make_shared<detail::DocState>(detail::DocState{std::move(file), {}})),
      registry_(std::make_shared<detail::Registry>()) {}

Document Document::load_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw InputError(fmt::format("{}: is a directory, expected a YAML file", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open file", path));
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw InputError(fmt::format("{}: cannot read file", path));
  input_files::note(path);
  check_text(text, path);
  return Document(parse_yaml(text, path), path);
}

Document Document::load_string(const std::string& text, const std::string& name) {
  return Document(parse_yaml(text, name), name);
}

void Document::set_override(std::string_view assignment, std::string origin) {
  const auto eq = assignment.find('=');
  if (eq == std::string_view::npos || eq == 0)
    throw InputError(fmt::format("--set {}: expected key.path=value", assignment));
  const std::string path(assignment.substr(0, eq));
  const std::string text(assignment.substr(eq + 1));
  if (!input_ || input_.IsNull()) input_ = YAML::Node(YAML::NodeType::Map);
  if (!input_.IsMap()) throw InputError(fmt::format("--set {}: {} is not a map", path, doc_->file));
  YAML::Node cur = input_;
  std::string walked;
  std::size_t start = 0;
  while (true) {
    const auto dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) throw InputError(fmt::format("--set {}: empty key in path", path));
    walked = join_path(walked, part);
    if (dot == std::string::npos) {
      // A value that is not YAML (e.g. "a: b: c", or "," which yaml-cpp reads as null) is
      // taken as the plain string, so that validation names it.
      YAML::Node value;
      try {
        (void)scan_yaml_documents(text, "--set");
        value = YAML::Load(text);
      } catch (const InputError&) {
        value = YAML::Node(text);
      } catch (const YAML::Exception&) {
        value = YAML::Node(text);
      }
      const YAML::Node existing = cur[part];
      if (value.IsScalar() && existing && existing.IsMap() && existing["preset"]) {
        // A preset name over {preset: old, key: override, ...} swaps the preset and keeps the
        // overrides, as a name over a name would become {preset: name}: so that a sweep's `set:
        // model.precision` still holds on the points where an axis picks the model.
        cur[part]["preset"] = value;
        break;
      }
      cur[part] = value;
      break;
    }
    YAML::Node next = cur[part];
    if (!next || next.IsNull()) {
      cur[part] = YAML::Node(YAML::NodeType::Map);
      next.reset(cur[part]);
    } else if (next.IsScalar()) {
      // A preset given by name ("device: h100-sxm5-80gb") becomes {preset: name} so its keys can be overridden.
      YAML::Node expanded(YAML::NodeType::Map);
      expanded["preset"] = next.Scalar();
      cur[part] = expanded;
      next.reset(cur[part]);
    } else if (!next.IsMap()) {
      throw InputError(fmt::format("--set {}: '{}' holds a list, not a map of keys", path, walked));
    }
    cur.reset(next);
    start = dot + 1;
  }
  doc_->overridden[path] = origin.empty() ? fmt::format("--set {}", path) : std::move(origin);
}

Node Document::root() const {
  Node n(input_, resolved_, "", doc_, registry_);
  if (input_.IsMap()) n.map_state();
  return n;
}

void Document::check_unknown_keys() const {
  struct Unknown {
    int line;
    std::string message;
  };
  std::vector<Unknown> found;
  for (const auto& [path, st] : registry_->maps) {
    if (!st->input.IsMap()) continue;
    std::vector<std::string> valid(st->known.begin(), st->known.end());
    for (const auto& kv : st->input) {
      const std::string key = kv.first.as<std::string>();
      if (st->known.count(key)) continue;
      const std::string full = join_path(path, key);
      const int line = kv.first.Mark().line + 1;
      const auto origin = st->doc->overridden.find(full);
      std::string where = origin != st->doc->overridden.end() ? origin->second
                                                              : fmt::format("{}:{}: {}", st->doc->file, line, full);
      std::string hint;
      if (auto best = closest(key, valid); !best.empty()) hint = fmt::format("; did you mean '{}'?", best);
      std::string list;
      for (const auto& v : valid) list += (list.empty() ? "" : ", ") + v;
      found.push_back({st->doc->overridden.count(full) ? 0 : line,
                       fmt::format("{}: unknown key '{}'{} (valid keys here: {})", where, key, hint,
                                   list.empty() ? "none" : list)});
    }
  }
  if (found.empty()) return;
  std::stable_sort(found.begin(), found.end(), [](const Unknown& a, const Unknown& b) { return a.line < b.line; });
  throw InputError(found.front().message);
}

std::string closest(std::string_view word, const std::vector<std::string>& candidates) {
  auto distance = [](std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
      std::size_t diag = row[0];
      row[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j) {
        const std::size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
        diag = up;
      }
    }
    return row[b.size()];
  };
  std::string best;
  std::size_t best_d = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    const std::size_t d = distance(word, c);
    if (d < best_d) best_d = d, best = c;
  }
  return best;
}

}  // namespace hetsim::config
