#pragma once
// Looking up an op of a built graph by name, for the graph builders' tests.
#include <string_view>
#include <vector>

#include "sim/core/op.hpp"

namespace hetsim::test {

/// The first op named `name`, or null.
inline const Op* find_op(const std::vector<Op>& ops, std::string_view name) {
  for (const Op& op : ops)
    if (op.name == name) return &op;
  return nullptr;
}

}  // namespace hetsim::test
