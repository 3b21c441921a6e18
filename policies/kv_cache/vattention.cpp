// vAttention (Prabhu et al., ASPLOS'25; microsoft/vattention): KV in contiguous virtual memory,
// one virtual buffer per layer for K and one for V, each request owning a slice of every buffer,
// with physical pages mapped into a request's slice on demand (CUDA virtual memory management:
// cuMemMap / cuMemSetAccess). Attention kernels then read KV contiguously, without a block table.
//
// What this changes against paged blocks (policies/kv_cache/paged.hpp), as modelled here:
//  - Capacity: memory is handed out in physical pages of `page_size`. Growing a request by one
//    page's worth of tokens maps one page in each of the 2 x layers buffers, so a request holds a
//    whole number of "page groups" of page_size / (KV bytes per token per layer and K or V)
//    tokens: 1,024 tokens for Llama-3-8B at 2 MiB (the only page size the stock CUDA driver maps;
//    64 KiB-256 KiB need vAttention's modified UVM driver; vattention README). A page group is one
//    block of this manager, so a request wastes up to a page group where paged blocks waste up to
//    a 16-token block.
//  - Step time: each page mapped costs `per_page` of driver work. vAttention maps in a background
//    thread that runs ahead of the step (`mapping: background`, the default: a step waits only
//    for what its compute does not hide, i.e. it takes max(compute, mapping)); `mapping: sync`
//    maps on the critical path (its *_sync backends), adding the mapping to the step. Pages of
//    finished requests stay mapped and are reused first (deferred reclamation, vattention.cu
//    `deferred_reclaim = true`), so mapping is paid only when the mapped pool grows. Physical
//    pages are assumed created once up front (cuMemCreate off the path).
//  - Not modelled: the speed of non-paged vs paged attention kernels (vAttention reports up to
//    1.23x serving throughput over PagedAttention kernels of FlashAttention-2/FlashInfer, arXiv
//    2405.04437 v3): the device's attention efficiencies are the serving stack's.
// Default per_page: 37.4 us = cuMemMap 1.45 us + cuMemSetAccess 35.99 us per 2 MB page, measured
// on an A100 (magnate3/linux-riscv-dev nccl/gpu/shm/bench_vmm README: a third-party benchmark, not
// vAttention's own table, which was not found).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "policies/kv_cache/paged.hpp"
#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"

namespace hetsim::policies {
namespace {

class VAttentionKvManager final : public PagedKvManager {
 public:
  explicit VAttentionKvManager(const config::Node& cfg)
      : PagedKvManager(cfg),
        page_size_(cfg.quantity("page_size", units::Dim::bytes).default_to("2 MiB").positive()),
        per_page_(cfg.quantity("per_page", units::Dim::time).default_to("37.44 us").non_negative()),
        sync_(cfg.get<std::string>("mapping").default_to("background").one_of({"background", "sync"}).value() == "sync") {
    if (cfg.has("block_size"))
      cfg.fail_key("block_size", cfg.child("block_size").scalar(),
                   "vattention has no block size: the tokens a request grows by follow from page_size");
    const std::int64_t p = static_cast<std::int64_t>(page_size_);
    for (std::int64_t ok : {64 << 10, 128 << 10, 256 << 10, 2 << 20})
      if (p == ok) return;
    cfg.fail_key("page_size", cfg.child("page_size").scalar(),
                 "expected 64 KiB, 128 KiB, 256 KiB (vAttention's UVM driver) or 2 MiB (the CUDA driver's granularity)");
  }

  void size(const KvSizing& s) override {
    pages_per_group_ = 2 * std::max<std::int64_t>(1, s.layers);
    const double bytes_per_token_per_buffer = s.kv_bytes_per_token / static_cast<double>(pages_per_group_);
    block_size_ = static_cast<std::int64_t>(std::floor(page_size_ / bytes_per_token_per_buffer));
    if (block_size_ < 1)
      cfg_.fail_key("page_size", cfg_.child("page_size").scalar(),
                    fmt::format("a page holds no token: one token of one layer's K or V takes {:.0f} bytes per device",
                                bytes_per_token_per_buffer));
    PagedKvManager::size(s);
  }

  void grow(Sequence& seq, std::int64_t tokens) override {
    PagedKvManager::grow(seq, tokens);
    // Page groups beyond the mapped pool are mapped now; the rest were left mapped by finished requests.
    const std::int64_t in_use = store_->used();
    if (in_use > mapped_groups_) {
      new_pages_ += (in_use - mapped_groups_) * pages_per_group_;
      mapped_groups_ = in_use;
    }
  }

  HostWork take_host_work() override {
    const HostWork w{.seconds = static_cast<double>(new_pages_) * per_page_, .overlaps = !sync_};
    new_pages_ = 0;
    return w;
  }

 private:
  double page_size_, per_page_;
  bool sync_;
  std::int64_t pages_per_group_ = 2;
  std::int64_t mapped_groups_ = 0;  ///< page groups mapped so far (never unmapped: deferred reclamation)
  std::int64_t new_pages_ = 0;      ///< pages mapped since the last step was planned
};

}  // namespace
HETSIM_REGISTER(KvManager, VAttentionKvManager, "vattention",
                "vAttention: contiguous virtual KV per layer, physical pages (page_size) mapped on demand at per_page each, "
                "in the background (mapping: background) or on the step's critical path (sync)");
}  // namespace hetsim::policies
