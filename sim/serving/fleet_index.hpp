#pragma once
// The fleet as routers see it at scale. Replicas are grouped into fit classes (same role, context
// and KV capacity and step token budget: a request fits every replica of a class or none), and
// each class keeps its replicas' outstanding counts in a min segment tree. The engine updates a
// count when it changes, so a router picks among 16k replicas in O(classes · log replicas) per
// arrival instead of reading every replica's load.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <utility>
#include <vector>

namespace hetsim::policies {

class FleetIndex {
 public:
  /// (outstanding, replica index): ordered so that the least is the emptiest, lowest index first.
  using Entry = std::pair<std::int64_t, std::size_t>;

  /// `class_of[i]` is replica i's fit class, classes numbered from 0 without gaps.
  explicit FleetIndex(std::vector<std::size_t> class_of) : class_of_(std::move(class_of)), slot_(class_of_.size()) {
    std::size_t classes = 0;
    for (std::size_t c : class_of_) classes = std::max(classes, c + 1);
    members_.resize(classes);
    for (std::size_t i = 0; i < class_of_.size(); ++i) {
      slot_[i] = members_[class_of_[i]].size();
      members_[class_of_[i]].push_back(i);
    }
    trees_.resize(classes);
    for (std::size_t c = 0; c < classes; ++c) {
      Tree& t = trees_[c];
      while (t.leaves < members_[c].size()) t.leaves *= 2;
      t.node.assign(2 * t.leaves, kNone);
      for (std::size_t k = 0; k < members_[c].size(); ++k) t.node[t.leaves + k] = {0, members_[c][k]};
      for (std::size_t k = t.leaves - 1; k >= 1; --k) t.node[k] = std::min(t.node[2 * k], t.node[2 * k + 1]);
    }
  }

  std::size_t size() const { return class_of_.size(); }
  std::size_t classes() const { return members_.size(); }
  std::size_t class_of(std::size_t replica) const { return class_of_[replica]; }
  /// Class `c`'s replicas, in increasing index.
  std::span<const std::size_t> members(std::size_t c) const { return members_[c]; }
  std::int64_t outstanding(std::size_t replica) const {
    const Tree& t = trees_[class_of_[replica]];
    return t.node[t.leaves + slot_[replica]].first;
  }
  /// The replica of class `c` with the fewest outstanding requests (ties: the lowest index).
  Entry least_outstanding(std::size_t c) const { return trees_[c].node[1]; }

  void set_outstanding(std::size_t replica, std::int64_t n) {
    Tree& t = trees_[class_of_[replica]];
    std::size_t k = t.leaves + slot_[replica];
    t.node[k].first = n;
    for (k /= 2; k >= 1; k /= 2) t.node[k] = std::min(t.node[2 * k], t.node[2 * k + 1]);
  }

 private:
  static constexpr Entry kNone{std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::size_t>::max()};
  /// A complete binary tree over a class's replicas (leaves padded to a power of two with kNone);
  /// node[1] is the root, node[k]'s children are 2k and 2k + 1.
  struct Tree {
    std::size_t leaves = 1;
    std::vector<Entry> node;
  };
  std::vector<std::size_t> class_of_;
  std::vector<std::size_t> slot_;  ///< replica's position in its class
  std::vector<std::vector<std::size_t>> members_;
  std::vector<Tree> trees_;
};

}  // namespace hetsim::policies
