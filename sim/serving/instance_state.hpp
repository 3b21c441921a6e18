#pragma once
// Where an instance is in its life under elastic capacity (an autoscaler, through the cluster
// facade): serving; loading its weights and starting its engine (cold start); taking no new work
// while it finishes what it holds; or released (its devices hold nothing and cost nothing).
#include <string_view>

namespace hetsim::serving {

enum class InstanceState : unsigned char { active, starting, draining, stopped };

constexpr std::string_view to_string(InstanceState s) {
  switch (s) {
    case InstanceState::active: return "active";
    case InstanceState::starting: return "starting";
    case InstanceState::draining: return "draining";
    case InstanceState::stopped: return "stopped";
  }
  return "?";
}
/// Whether the instance's devices are held (and paid for): every state but stopped.
constexpr bool provisioned(InstanceState s) { return s != InstanceState::stopped; }

}  // namespace hetsim::serving
