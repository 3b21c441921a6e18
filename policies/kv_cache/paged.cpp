// PagedAttention-style block manager (Kwon et al., SOSP'23): KV lives in fixed-size blocks of
// `block_size` tokens; the number of blocks comes from the device memory left after the weights and
// an activation reserve, within a utilization fraction (vLLM's gpu_memory_utilization).
#include <fmt/format.h>

#include <cmath>

#include "sim/serving/kv_manager.hpp"
#include "sim/core/config.hpp"
#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"

namespace hetsim::policies {
namespace {

class PagedKvManager final : public KvManager {
 public:
  explicit PagedKvManager(const config::Node& cfg)
      : cfg_(cfg),
        block_size_(cfg.get<std::int64_t>("block_size").default_to(16).in_range(1, 1 << 20)),
        utilization_(cfg.get<double>("gpu_memory_utilization").default_to(0.9).in_range(0.05, 1.0)),
        activation_reserve_(cfg.quantity("activation_reserve", units::Dim::bytes).default_to("1 GiB").non_negative()),
        watermark_(cfg.get<double>("watermark").default_to(0.01).in_range(0.0, 0.5)) {}

  void size(const KvSizing& s) override {
    const double usable = s.device_memory_bytes * utilization_ - s.weight_bytes - activation_reserve_;
    const std::int64_t total = usable > 0 ? static_cast<std::int64_t>(std::floor(usable / (s.kv_bytes_per_token * block_size_))) : 0;
    if (total < 1)
      cfg_.fail(fmt::format("no KV block fits: {:.2f} GB device memory x {} utilization - {:.2f} GB weights - {:.2f} GB "
                            "activation reserve leaves {:.2f} GB; use more tensor parallelism or a larger device",
                            s.device_memory_bytes / 1e9, utilization_, s.weight_bytes / 1e9, activation_reserve_ / 1e9,
                            usable / 1e9));
    watermark_blocks_ = static_cast<std::int64_t>(std::floor(watermark_ * static_cast<double>(total)));
    store_ = std::make_unique<serving::KvBlockStore>(block_size_, total);
  }
  std::int64_t block_size() const override { return block_size_; }
  std::int64_t watermark_blocks() const override { return watermark_blocks_; }

  void grow(Sequence& seq, std::int64_t tokens) override {
    const std::int64_t need = extra_blocks(seq, tokens);
    if (store_->used() + need > store_->capacity())
      throw InvariantError(fmt::format("KV capacity exceeded: {} used + {} requested > {} blocks (sequence {})",
                                       store_->used(), need, store_->capacity(), seq.id));
    // Blocks parked in another tier come back first: the copy is the sequence's computed KV.
    if (seq.kv_tier != serving::kDeviceTier && !move_out(seq, serving::kDeviceTier, seq.computed))
      throw InvariantError(fmt::format("sequence {}: no device room to bring back its KV", seq.id));
    for (std::int64_t i = extra_blocks(seq, tokens); i > 0; --i) seq.blocks.push_back(store_->allocate());
  }
  void release(Sequence& seq) override {
    for (serving::BlockId b : seq.blocks) store_->release(b);
    std::vector<serving::BlockId>().swap(seq.blocks);  // give the memory back: finished sequences hold none
    seq.kv_tier = serving::kDeviceTier;
  }

 private:
  config::Node cfg_;
  std::int64_t block_size_;
  double utilization_;
  double activation_reserve_;
  double watermark_;
  std::int64_t watermark_blocks_ = 0;
};

}  // namespace
HETSIM_REGISTER(KvManager, PagedKvManager, "paged", "vLLM PagedAttention block manager (block_size tokens per block)");
}  // namespace hetsim::policies
