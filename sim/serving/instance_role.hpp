#pragma once
// What an instance serves: whole requests (both), only prefills (handing sequences to decode
// instances after their first token), or only decodes (Splitwise, DistServe).
#include <optional>
#include <string_view>

namespace hetsim::serving {

enum class InstanceRole : unsigned char { both, prefill, decode };

constexpr std::string_view to_string(InstanceRole r) {
  switch (r) {
    case InstanceRole::both: return "both";
    case InstanceRole::prefill: return "prefill";
    case InstanceRole::decode: return "decode";
  }
  return "?";
}
constexpr std::optional<InstanceRole> parse_instance_role(std::string_view s) {
  if (s == "both") return InstanceRole::both;
  if (s == "prefill") return InstanceRole::prefill;
  if (s == "decode") return InstanceRole::decode;
  return std::nullopt;
}
/// Whether arrivals may be routed to an instance of this role.
constexpr bool takes_arrivals(InstanceRole r) { return r != InstanceRole::decode; }

}  // namespace hetsim::serving
