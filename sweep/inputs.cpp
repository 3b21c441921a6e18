#include "sweep/inputs.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "sim/core/error.hpp"

namespace hetsim::sweep {

std::string Inputs::to_json() const {
  nlohmann::ordered_json j;
  j["spec"] = {{"file", spec_file}, {"hash", spec_hash}};
  j["files"] = nlohmann::ordered_json::object();
  for (const auto& [path, hash] : files) j["files"][path] = hash;
  j["points"] = nlohmann::ordered_json::object();
  for (const auto& [name, hash] : points) j["points"][name] = hash;
  return j.dump(2) + "\n";
}

bool Inputs::load(const std::string& path, Inputs& out) {
  std::ifstream in(path);
  if (!in) return false;
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto j = nlohmann::json::parse(text, nullptr, false);
  try {
    if (j.is_discarded()) throw std::runtime_error("not JSON");
    out.spec_file = j.at("spec").at("file").get<std::string>();
    out.spec_hash = j.at("spec").at("hash").get<std::string>();
    for (const auto& [k, v] : j.at("files").items()) out.files[k] = v.get<std::string>();
    for (const auto& [k, v] : j.at("points").items()) out.points[k] = v.get<std::string>();
  } catch (const std::exception&) {
    throw InputError(fmt::format("{}: not a sweep input fingerprint; use --restart or a new --out", path));
  }
  return true;
}

namespace {
std::string listed(const std::vector<std::string>& names) {
  std::string s;
  for (std::size_t i = 0; i < names.size() && i < 5; ++i) s += (i ? ", " : "") + names[i];
  return names.size() > 5 ? s + ", ..." : s;
}
/// Keys of `now` whose hash differs from `before`'s, keys only in `now`, keys only in `before`.
struct KeyChanges {
  std::vector<std::string> changed, added, removed;
};
KeyChanges compare(const std::map<std::string, std::string>& before, const std::map<std::string, std::string>& now) {
  KeyChanges c;
  for (const auto& [key, hash] : now) {
    const auto it = before.find(key);
    if (it == before.end()) c.added.push_back(key);
    else if (it->second != hash) c.changed.push_back(key);
  }
  for (const auto& [key, hash] : before)
    if (!now.count(key)) c.removed.push_back(key);
  return c;
}
}  // namespace

std::vector<std::string> differences(const Inputs& before, const Inputs& now) {
  std::vector<std::string> out;
  if (before.spec_file != now.spec_file)
    out.push_back(fmt::format("the spec is now {} (was {})", now.spec_file, before.spec_file));
  else if (before.spec_hash != now.spec_hash)
    out.push_back(fmt::format("the spec {} changed", now.spec_file));
  const KeyChanges files = compare(before.files, now.files);
  for (const auto& f : files.changed) out.push_back(fmt::format("{} changed", f));
  if (!files.added.empty()) out.push_back(fmt::format("now reads {} (not read before)", listed(files.added)));
  if (!files.removed.empty()) out.push_back(fmt::format("no longer reads {}", listed(files.removed)));
  const KeyChanges points = compare(before.points, now.points);
  if (!points.changed.empty())
    out.push_back(fmt::format("the effective configuration (resolved.yaml) of {} point(s) changed ({})", points.changed.size(),
                              listed(points.changed)));
  if (!points.added.empty()) out.push_back(fmt::format("{} new point(s) ({})", points.added.size(), listed(points.added)));
  if (!points.removed.empty()) out.push_back(fmt::format("{} point(s) gone ({})", points.removed.size(), listed(points.removed)));
  return out;
}

}  // namespace hetsim::sweep
