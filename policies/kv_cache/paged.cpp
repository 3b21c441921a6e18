// PagedAttention block manager: see paged.hpp.
#include "policies/kv_cache/paged.hpp"

#include <fmt/format.h>

#include <cmath>

#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"

namespace hetsim::policies {
namespace {
/// An optional size key: absent means "not given".
std::optional<double> optional_bytes(const config::Node& cfg, const char* key, bool positive) {
  if (!cfg.has(key)) return std::nullopt;
  return positive ? cfg.quantity(key, units::Dim::bytes).positive() : cfg.quantity(key, units::Dim::bytes).non_negative();
}
}  // namespace

PagedKvManager::PagedKvManager(const config::Node& cfg)
    : cfg_(cfg),
      block_size_(cfg.get<std::int64_t>("block_size").default_to(16).in_range(1, 1 << 20)),
      utilization_(cfg.get<double>("gpu_memory_utilization").default_to(0.9).in_range(0.05, 1.0)),
      activation_reserve_(optional_bytes(cfg, "activation_reserve", false)),
      kv_cache_memory_(optional_bytes(cfg, "kv_cache_memory", true)),
      watermark_(cfg.get<double>("watermark").default_to(0.01).in_range(0.0, 0.5)) {}

void PagedKvManager::size(const KvSizing& s) {
  constexpr double GiB = 1 << 30;
  KvMemory& m = memory_;
  m = KvMemory{};
  m.usable = s.device_memory_bytes;
  m.utilization = utilization_;
  m.weights = s.weight_bytes;
  m.activation_given = activation_reserve_.has_value();
  m.activation = activation_reserve_.value_or(s.activation_bytes);
  m.non_torch = s.non_torch_bytes;
  m.graphs = s.graph_bytes;
  m.block_size = block_size_;
  const double others = m.weights + m.activation + m.non_torch + m.graphs;
  const std::string terms =
      fmt::format("{:.2f} GiB weights - {:.2f} GiB activation{} - {:.2f} GiB non-torch - {:.2f} GiB CUDA graphs", m.weights / GiB,
                  m.activation / GiB, m.activation_given ? " reserve" : " peak", m.non_torch / GiB, m.graphs / GiB);
  if (kv_cache_memory_) {
    m.kv_given = true;
    m.kv = *kv_cache_memory_;
    if (m.kv > m.usable - others)
      cfg_.fail_key("kv_cache_memory", cfg_.child("kv_cache_memory").scalar(),
                    fmt::format("expected at most the {:.2f} GiB left of the device's {:.2f} GiB usable memory after {}",
                                (m.usable - others) / GiB, m.usable / GiB, terms));
  } else {
    m.kv = m.usable * utilization_ - others;
  }
  m.kv *= s.kv_share;
  const double block_bytes = s.kv_bytes_per_token * static_cast<double>(block_size_);
  m.blocks = m.kv > 0 ? static_cast<std::int64_t>(std::floor(m.kv / block_bytes)) : 0;
  if (m.blocks < 1 && m.kv_given)
    cfg_.fail_key("kv_cache_memory", cfg_.child("kv_cache_memory").scalar(),
                  fmt::format("expected at least one block of {} tokens ({:.3f} GiB)", block_size_, block_bytes / GiB));
  if (m.blocks < 1)
    cfg_.fail(fmt::format("no KV block fits: {:.2f} GiB usable x {} utilization - {} leaves {:.2f} GiB, less than one "
                          "block of {} tokens ({:.3f} GiB); use more tensor parallelism or a larger device",
                          m.usable / GiB, utilization_, terms, m.kv / GiB, block_size_, block_bytes / GiB));
  watermark_blocks_ = static_cast<std::int64_t>(std::floor(watermark_ * static_cast<double>(m.blocks)));
  store_ = std::make_unique<serving::KvBlockStore>(block_size_, m.blocks);
}

void PagedKvManager::grow(Sequence& seq, std::int64_t tokens) {
  const std::int64_t need = extra_blocks(seq, tokens);
  if (store_->used() + need > store_->capacity())
    throw InvariantError(fmt::format("KV capacity exceeded: {} used + {} requested > {} blocks (sequence {})",
                                     store_->used(), need, store_->capacity(), seq.id));
  // Blocks parked in another tier come back first: the copy is the sequence's computed KV.
  if (seq.kv_tier != serving::kDeviceTier && !move_out(seq, serving::kDeviceTier, seq.computed))
    throw InvariantError(fmt::format("sequence {}: no device room to bring back its KV", seq.id));
  for (std::int64_t i = extra_blocks(seq, tokens); i > 0; --i) seq.blocks.push_back(store_->allocate());
}

void PagedKvManager::release(Sequence& seq) {
  for (serving::BlockId b : seq.blocks) store_->release(b);
  std::vector<serving::BlockId>().swap(seq.blocks);  // give the memory back: finished sequences hold none
  seq.kv_tier = serving::kDeviceTier;
}

HETSIM_REGISTER(KvManager, PagedKvManager, "paged", "vLLM PagedAttention block manager (block_size tokens per block)");
}  // namespace hetsim::policies
