#pragma once
// KV-cache manager interface: owns the replica's KV capacity and which sequence holds how much.
#include <cstdint>

#include "policies/sequence.hpp"

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

  /// Sizes the cache; an InputError (naming the config) if not even one block fits.
  virtual void size(const KvSizing& sizing) = 0;
  virtual std::int64_t total_blocks() const = 0;
  virtual std::int64_t used_blocks() const = 0;
  std::int64_t free_blocks() const { return total_blocks() - used_blocks(); }
  /// Tokens per block.
  virtual std::int64_t block_size() const = 0;
  std::int64_t blocks_for(std::int64_t tokens) const { return (tokens + block_size() - 1) / block_size(); }
  /// Blocks kept free when admitting new sequences, so running ones can grow (vLLM's watermark).
  virtual std::int64_t watermark_blocks() const = 0;
  /// Extra blocks `seq` needs to hold `tokens` tokens in total.
  std::int64_t extra_blocks(const Sequence& seq, std::int64_t tokens) const {
    const std::int64_t need = blocks_for(tokens) - seq.kv_blocks;
    return need > 0 ? need : 0;
  }
  /// Grows `seq` to hold `tokens` tokens; the caller checked there is room (violations throw).
  virtual void grow(Sequence& seq, std::int64_t tokens) = 0;
  /// Frees every block of `seq`.
  virtual void release(Sequence& seq) = 0;
};

}  // namespace hetsim::policies
