#pragma once
// Storage for the sequences in flight, so that a run's memory follows the requests in the system,
// not the length of the trace. Addresses are stable (queues, schedulers and moves hold pointers).
// A released slot is reused first-in first-out: the longest-ended sequence is the one recycled,
// which keeps an ended sequence's state (finished, its id) readable through a stale pointer for as
// long as possible, so the engine's batch checks still catch a policy that brings one back.
#include <cstddef>
#include <deque>

#include "sim/serving/sequence.hpp"

namespace hetsim::policies {

class SequencePool {
 public:
  /// A fresh sequence (all fields at their defaults).
  Sequence& acquire() {
    if (free_.empty()) return slots_.emplace_back();
    Sequence& s = *free_.front();
    free_.pop_front();
    // Keeps the vectors' capacity for the next request.
    auto blocks = std::move(s.blocks);
    auto ids = std::move(s.content_ids);
    auto hashes = std::move(s.block_hashes);
    blocks.clear();
    ids.clear();
    hashes.clear();
    s = Sequence{};
    s.blocks = std::move(blocks);
    s.content_ids = std::move(ids);
    s.block_hashes = std::move(hashes);
    return s;
  }
  /// `s` has ended (completed or rejected); nothing may use it from now on.
  void release(Sequence& s) { free_.push_back(&s); }
  /// Slots ever made: the most sequences alive at once.
  std::size_t capacity() const { return slots_.size(); }

 private:
  std::deque<Sequence> slots_;  ///< deque: growing it never moves an element
  std::deque<Sequence*> free_;
};

}  // namespace hetsim::policies
