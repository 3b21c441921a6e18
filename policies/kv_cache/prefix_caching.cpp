// vLLM's automatic prefix caching with tiers below device memory: see prefix_caching.hpp.
#include "policies/kv_cache/prefix_caching.hpp"

#include "sim/core/registry.hpp"

namespace hetsim::policies {
HETSIM_REGISTER(KvManager, PrefixCachingKvManager, "prefix_caching",
                "paged blocks with vLLM automatic prefix caching: chained block hashes, LRU reuse of freed blocks; "
                "offload: tiers below device memory (host DRAM, CXL, SSD) with loads over the node's links");
}  // namespace hetsim::policies
