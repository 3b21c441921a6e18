#pragma once
// KV-cache manager interface: sizes the replica's KV block store (sim/serving/kv_block_store) and
// decides how sequences take and give back blocks. Policies that park KV elsewhere (swap,
// offload) move a sequence's blocks to another tier of the store; the instance turns the moves
// into transfers on the platform before its next step.
#include <cstdint>
#include <memory>

#include "sim/serving/sequence.hpp"
#include "sim/serving/kv_block_store.hpp"

namespace hetsim::policies {

/// Memory of one device of a replica, as the KV manager needs it to size the cache.
struct KvSizing {
  double device_memory_bytes = 0;  ///< capacity of one device
  double weight_bytes = 0;         ///< weights held by one device
  double kv_bytes_per_token = 0;   ///< KV bytes per token on one device (all layers)
};

class KvManager {
 public:
  static constexpr const char* kKind = "kv_cache";
  virtual ~KvManager() = default;

  /// Sizes the cache and creates the store; an InputError (naming the config) if not even one block fits.
  virtual void size(const KvSizing& sizing) = 0;
  /// Tokens per block.
  virtual std::int64_t block_size() const = 0;
  /// Blocks kept free when admitting new sequences, so running ones can grow (vLLM's watermark).
  virtual std::int64_t watermark_blocks() const = 0;
  /// Grows `seq` to hold `tokens` tokens in device memory, first bringing back its blocks from
  /// another tier if they were moved out; the caller checked there is room (violations throw).
  virtual void grow(Sequence& seq, std::int64_t tokens) = 0;
  /// Frees every block of `seq`, in whatever tier.
  virtual void release(Sequence& seq) = 0;

  serving::KvBlockStore& store() { return *store_; }
  const serving::KvBlockStore& store() const { return *store_; }
  std::int64_t total_blocks() const { return store_->capacity(); }
  std::int64_t used_blocks() const { return store_->used(); }
  std::int64_t free_blocks() const { return store_->free(); }
  std::int64_t blocks_for(std::int64_t tokens) const { return (tokens + block_size() - 1) / block_size(); }
  /// Blocks `seq` holds in device memory.
  std::int64_t device_blocks(const Sequence& seq) const {
    return seq.kv_tier == serving::kDeviceTier ? static_cast<std::int64_t>(seq.blocks.size()) : 0;
  }
  /// Extra device blocks `seq` needs to hold `tokens` tokens in total.
  std::int64_t extra_blocks(const Sequence& seq, std::int64_t tokens) const {
    const std::int64_t need = blocks_for(tokens) - device_blocks(seq);
    return need > 0 ? need : 0;
  }
  /// Moves `seq`'s blocks (holding `tokens` tokens of KV) to tier `to`; false if it lacks room.
  bool move_out(Sequence& seq, serving::KvTierIndex to, std::int64_t tokens) {
    if (!store_->move(seq.blocks, to, tokens)) return false;
    seq.kv_tier = to;
    return true;
  }

 protected:
  std::unique_ptr<serving::KvBlockStore> store_;
};

}  // namespace hetsim::policies
