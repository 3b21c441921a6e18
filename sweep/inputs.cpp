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
}  // namespace

std::vector<std::string> differences(const Inputs& before, const Inputs& now) {
  std::vector<std::string> out;
  if (before.spec_file != now.spec_file)
    out.push_back(fmt::format("the spec is now {} (was {})", now.spec_file, before.spec_file));
  else if (before.spec_hash != now.spec_hash)
    out.push_back(fmt::format("the spec {} changed", now.spec_file));
  std::vector<std::string> changed, added, removed;
  for (const auto& [path, hash] : now.files) {
    const auto it = before.files.find(path);
    if (it == before.files.end()) added.push_back(path);
    else if (it->second != hash) changed.push_back(path);
  }
  for (const auto& [path, hash] : before.files)
    if (!now.files.count(path)) removed.push_back(path);
  for (const auto& f : changed) out.push_back(fmt::format("{} changed", f));
  if (!added.empty()) out.push_back(fmt::format("now reads {} (not read before)", listed(added)));
  if (!removed.empty()) out.push_back(fmt::format("no longer reads {}", listed(removed)));
  std::vector<std::string> config_changed, new_points, gone_points;
  for (const auto& [name, hash] : now.points) {
    const auto it = before.points.find(name);
    if (it == before.points.end()) new_points.push_back(name);
    else if (it->second != hash) config_changed.push_back(name);
  }
  for (const auto& [name, hash] : before.points)
    if (!now.points.count(name)) gone_points.push_back(name);
  if (!config_changed.empty())
    out.push_back(fmt::format("the effective configuration (resolved.yaml) of {} point(s) changed ({})", config_changed.size(),
                              listed(config_changed)));
  if (!new_points.empty()) out.push_back(fmt::format("{} new point(s) ({})", new_points.size(), listed(new_points)));
  if (!gone_points.empty()) out.push_back(fmt::format("{} point(s) gone ({})", gone_points.size(), listed(gone_points)));
  return out;
}

}  // namespace hetsim::sweep
