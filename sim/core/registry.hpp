#pragma once
// Name -> factory registry for everything a user may swap (schedulers, routers, KV managers,
// workload sources). Each implementation registers itself from its own .cpp with HETSIM_REGISTER;
// the scenario picks one by `impl:`. The table is a function-local static, so registration order
// across translation units does not matter (no static-initialization-order fiasco).
#include <fmt/format.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sim/core/config.hpp"
#include "sim/core/error.hpp"

namespace hetsim {

/// Registry of implementations of `Interface`, each built from its config node.
template <class Interface>
class Registry {
 public:
  using Factory = std::function<std::unique_ptr<Interface>(const config::Node&)>;
  struct Entry {
    std::string description;
    Factory make;
  };

  static Registry& instance() {
    static Registry registry;
    return registry;
  }

  /// Adds an implementation; a duplicate name is a programming error caught at startup.
  bool add(const std::string& name, std::string description, Factory make) {
    if (!entries_.emplace(name, Entry{std::move(description), std::move(make)}).second)
      throw std::logic_error(fmt::format("duplicate {} registration '{}'", Interface::kKind, name));
    return true;
  }

  /// Builds the implementation named by `node.<key>`, or by `default_impl` when absent ("" = required).
  std::unique_ptr<Interface> make(const config::Node& node, const std::string& default_impl,
                                  const std::string& key = "impl") const {
    const std::string name = default_impl.empty() ? node.get<std::string>(key).required().value()
                                                  : node.get<std::string>(key).default_to(default_impl).value();
    auto it = entries_.find(name);
    if (it == entries_.end()) {
      std::string valid;
      for (const auto& [n, e] : entries_) valid += (valid.empty() ? "" : ", ") + n;
      const auto hint = config::closest(name, names());
      node.fail_key(key, fmt::format("\"{}\"", name),
                    fmt::format("unknown {}{}; valid: {}", Interface::kKind,
                                hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint), valid));
    }
    return it->second.make(node);
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [n, e] : entries_) out.push_back(n);
    return out;
  }
  const std::map<std::string, Entry>& entries() const { return entries_; }

 private:
  Registry() = default;
  std::map<std::string, Entry> entries_;
};

}  // namespace hetsim

#define HETSIM_CONCAT_INNER(a, b) a##b
#define HETSIM_CONCAT(a, b) HETSIM_CONCAT_INNER(a, b)
/// Registers `Class` (constructible from `const config::Node&`) as implementation `name` of `Interface`.
#define HETSIM_REGISTER(Interface, Class, name, description)                                      \
  [[maybe_unused]] static const bool HETSIM_CONCAT(hetsim_registered_, __LINE__) =                 \
      ::hetsim::Registry<Interface>::instance().add(name, description, [](const ::hetsim::config::Node& n) { \
        return std::unique_ptr<Interface>(std::make_unique<Class>(n));                              \
      })
