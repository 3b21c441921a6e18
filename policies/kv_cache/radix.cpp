// SGLang's radix-tree prefix cache (Zheng et al., "SGLang: Efficient Execution of Structured
// Language Model Programs", NeurIPS'24, Sec. 3; sglang/srt/mem_cache/radix_cache.py): cached KV
// forms a tree of prefixes; a node is held while a running request uses it (lock_ref) and stamped
// with its last access; when memory is needed, the least recently used unreferenced LEAVES are
// evicted, so the tree stays prefix-closed: an interior node outlives every node below it. This
// differs from vLLM's free list (prefix_caching.cpp), which may evict a shared head before its
// tails and so strand them.
//
// Here the tree's nodes are KV blocks (SGLang's page_size = block_size; block_size: 1 gives its
// token-granular default, at the cost of one block per token). Children are found by the chained
// block hash (block_hashes.hpp), so matching is the same walk as vLLM's; a hit refreshes every
// node on the matched path. A sequence that computes a block another sequence already cached (two
// requests prefilling the same prefix at once) keeps its copy private from there on, as SGLang
// frees the duplicate when it inserts. KV moved to another tier (swap preemption) would leave the
// tree, so this manager refuses swap.
#include <fmt/format.h>

#include <set>
#include <utility>

#include "policies/kv_cache/block_hashes.hpp"
#include "policies/kv_cache/paged.hpp"
#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"

namespace hetsim::policies {
namespace {

class RadixKvManager final : public PagedKvManager {
 public:
  explicit RadixKvManager(const config::Node& cfg) : PagedKvManager(cfg) { caches_prefixes_ = true; }

  bool allows_moves() const override { return false; }
  void forget_cached() override { make_room(store_->capacity()); }

  PrefixHit lookup(Sequence& seq) override { return block_hashes::match(*store_, seq, block_size_); }

  void admit(Sequence& seq, const PrefixHit& hit, std::int64_t tokens) override {
    block_hashes::take(*store_, seq, hit, block_size_, prefix_counts_);
    for (serving::BlockId b : seq.blocks) {
      leaves_.erase({node(b).last, b});  // referenced now: not evictable
      node(b).last = ++tick_;             // the matched path is refreshed
    }
    grow(seq, seq.computed + tokens);
  }

  void grow(Sequence& seq, std::int64_t tokens) override {
    if (seq.kv_tier != serving::kDeviceTier) throw InvariantError("radix KV cache: KV in another tier");
    make_room(extra_blocks(seq, tokens));
    PagedKvManager::grow(seq, tokens);
  }

  void on_computed(Sequence& seq) override {
    block_hashes::compute(seq, block_size_);
    const std::int64_t full = block_hashes::full_described(seq, block_size_);
    for (std::int64_t i = seq.hashed_blocks; i < full; ++i) {
      const auto at = static_cast<std::size_t>(i);
      if (store_->find(seq.block_hashes[at]) >= 0) {
        seq.hashed_blocks = static_cast<std::int64_t>(seq.block_hashes.size());  // a duplicate: private from here on
        return;
      }
      const serving::BlockId b = seq.blocks[at];
      store_->set_hash(b, seq.block_hashes[at]);
      Node& n = node(b);
      n = Node{.parent = i > 0 ? seq.blocks[at - 1] : -1, .children = 0, .last = ++tick_};
      if (n.parent >= 0) ++node(n.parent).children;
      seq.hashed_blocks = i + 1;
    }
  }

  void release(Sequence& seq) override {
    on_computed(seq);
    release_blocks(seq.blocks);
    std::vector<serving::BlockId>().swap(seq.blocks);
    seq.hashed_blocks = 0;
  }

  void release_blocks(const std::vector<serving::BlockId>& blocks) override {
    for (serving::BlockId b : blocks) {
      const bool in_tree = store_->block(b).hash != 0;
      if (in_tree) node(b).last = ++tick_;
      store_->release(b);
      if (in_tree) maybe_leaf(b);
    }
  }

 private:
  struct Node {
    serving::BlockId parent = -1;  ///< the block of the prefix one block shorter; -1 at the root
    std::int32_t children = 0;     ///< cached blocks that extend it
    std::uint64_t last = 0;        ///< last access (a counter: order is all that matters)
  };
  Node& node(serving::BlockId b) {
    const auto i = static_cast<std::size_t>(b);
    if (i >= nodes_.size()) nodes_.resize(i + 1);
    return nodes_[i];
  }
  /// `b` joins the evictable leaves if nothing holds it and no cached block extends it.
  void maybe_leaf(serving::BlockId b) {
    if (store_->block(b).refcount == 0 && node(b).children == 0) leaves_.insert({node(b).last, b});
  }
  /// Evicts least recently used unreferenced leaves until `blocks` empty slots are free.
  void make_room(std::int64_t blocks) {
    while (store_->empty_slots() < blocks && !leaves_.empty()) {
      const serving::BlockId b = leaves_.begin()->second;
      leaves_.erase(leaves_.begin());
      store_->drop_cached(b);
      const serving::BlockId parent = node(b).parent;
      node(b) = Node{};
      if (parent >= 0 && --node(parent).children == 0) maybe_leaf(parent);
    }
    // Every unreferenced cached block has an unreferenced leaf below it (a sequence holding a
    // block holds its whole prefix), so cached blocks never outlast the leaves.
    if (store_->empty_slots() < blocks && store_->cached() > 0)
      throw InvariantError(fmt::format("radix KV cache: {} cached blocks but no evictable leaf", store_->cached()));
  }

  std::vector<Node> nodes_;  ///< by block id
  std::set<std::pair<std::uint64_t, serving::BlockId>> leaves_;  ///< evictable, least recently used first
  std::uint64_t tick_ = 0;
};

}  // namespace
HETSIM_REGISTER(KvManager, RadixKvManager, "radix",
                "SGLang radix-tree prefix cache: blocks as tree nodes, LRU eviction of unreferenced leaves");
}  // namespace hetsim::policies
