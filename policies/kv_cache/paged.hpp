#pragma once
// PagedAttention-style block manager (Kwon et al., SOSP'23): KV lives in fixed-size blocks of
// `block_size` tokens. The number of blocks follows vLLM's memory accounting
// (sim/serving/memory_budget.hpp; vLLM V1 gpu_worker.py determine_available_memory):
//   KV = usable x gpu_memory_utilization - weights - activation peak - non-torch - CUDA-graph pool
// `activation_reserve` replaces the computed activation peak; `kv_cache_memory` gives the KV size
// directly, as vLLM's --kv-cache-memory does (no utilization applied; it must fit the device).
// Prefix-caching managers (policies/kv_cache/prefix_caching.cpp) reuse its sizing.
#include <optional>

#include "sim/core/config.hpp"
#include "sim/serving/kv_manager.hpp"

namespace hetsim::policies {

class PagedKvManager : public KvManager {
 public:
  explicit PagedKvManager(const config::Node& cfg);

  void size(const KvSizing& s) override;
  std::int64_t block_size() const override { return block_size_; }
  std::int64_t watermark_blocks() const override { return watermark_blocks_; }
  void grow(Sequence& seq, std::int64_t tokens) override;
  void release(Sequence& seq) override;

 protected:
  config::Node cfg_;
  std::int64_t block_size_;

 private:
  double utilization_;
  std::optional<double> activation_reserve_;  ///< replaces the computed activation peak when given
  std::optional<double> kv_cache_memory_;     ///< the KV size, when given (vLLM's --kv-cache-memory)
  double watermark_;
  std::int64_t watermark_blocks_ = 0;
};

}  // namespace hetsim::policies
