#include "sim/core/catalog.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "sim/core/io/input_files.hpp"

#ifndef HETSIM_SOURCE_DIR
#define HETSIM_SOURCE_DIR "."
#endif

namespace hetsim::catalog {
namespace fs = std::filesystem;

std::string root() {
  if (const char* env = std::getenv("HETSIM_HOME"); env && *env) return env;
  return HETSIM_SOURCE_DIR;
}

std::vector<std::string> names(const std::string& folder) {
  std::vector<std::string> out;
  const fs::path dir = fs::path(root()) / folder;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().extension() == ".yaml") out.push_back(entry.path().stem().string());
  std::sort(out.begin(), out.end());
  return out;
}

config::Document load(const std::string& folder, const std::string& name, const config::Node& referrer,
                      const std::string& key) {
  const fs::path file = fs::path(root()) / folder / (name + ".yaml");
  if (!input_files::is_file(file.string())) {
    const auto valid = names(folder);
    std::string list;
    for (const auto& v : valid) list += (list.empty() ? "" : ", ") + v;
    const auto hint = config::closest(name, valid);
    referrer.fail_key(key, fmt::format("\"{}\"", name),
                      fmt::format("no such entry in {}{}; valid: {}", (fs::path(root()) / folder).string(),
                                  hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint), list));
  }
  return config::Document::load_file(file.string());
}

Layered with_preset(const config::Node& parent, const std::string& key, const std::string& folder) {
  const config::Node given = parent.child(key);
  if (given.is_scalar()) {
    const std::string name = given.scalar();
    auto doc = load(folder, name, parent, key);
    config::Node layered = given.over(doc.root());
    layered.resolved()["preset"] = name;
    return {layered, std::move(doc)};
  }
  const std::string name = given.get<std::string>("preset").required();
  auto doc = load(folder, name, given, "preset");
  return {given.over(doc.root()), std::move(doc)};
}

}  // namespace hetsim::catalog
