#include "workload/rag_chunks.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "sim/core/error.hpp"

namespace hetsim::workload {

namespace {
/// Content ids of RAG prompts, apart from every other generator's: the top bit set; the system
/// prompt is document 0, chunk d of the corpus document d + 1.
std::uint64_t content_id(std::int64_t document, std::int64_t unit) {
  return (std::uint64_t{1} << 63) | (static_cast<std::uint64_t>(document) << 24) | static_cast<std::uint64_t>(unit);
}
}  // namespace

std::optional<RagChunks> RagChunks::parse(const config::Node& workload) {
  if (!workload.has("rag")) return std::nullopt;
  if (workload.has("shared_prefix"))
    workload.fail_key("rag", "", "give either rag (with its system_prompt) or shared_prefix, not both");
  const config::Node cfg = workload.child("rag");
  RagChunks p;
  // At most 2^22 documents: the popularity table is 8 bytes per document.
  p.documents_ = cfg.get<std::int64_t>("documents").in_range(1, 1 << 22);
  p.chunk_tokens_ = cfg.get<std::int64_t>("chunk_tokens").default_to(512).in_range(kIdTokens, 1 << 20);
  p.chunks_ = cfg.get<std::int64_t>("chunks").default_to(6).in_range(1, 1024);
  p.system_prompt_ = cfg.get<std::int64_t>("system_prompt").default_to(0).in_range(0, 1 << 20);
  for (const char* key : {"chunk_tokens", "system_prompt"}) {
    const std::int64_t v = std::string(key) == "chunk_tokens" ? p.chunk_tokens_ : p.system_prompt_;
    if (v % kIdTokens != 0)
      cfg.fail_key(key, std::to_string(v), fmt::format("expected a multiple of {} tokens (content ids name {}-token units)", kIdTokens, kIdTokens));
  }
  // A request's content ids are kept with it: its context is bounded like a conversation's (2^20 tokens).
  constexpr std::int64_t kMaxContext = std::int64_t{1} << 20;
  if (p.system_prompt_ + p.chunks_ * p.chunk_tokens_ > kMaxContext)
    cfg.fail(fmt::format("system_prompt + chunks x chunk_tokens = {} tokens; expected at most {}",
                         p.system_prompt_ + p.chunks_ * p.chunk_tokens_, kMaxContext));
  if (p.chunks_ > p.documents_)
    cfg.fail_key("chunks", std::to_string(p.chunks_), fmt::format("expected at most documents ({}): chunks are distinct", p.documents_));
  p.popularity_ = Popularity::parse(cfg, p.documents_);
  return p;
}

void RagChunks::apply(Request& r, Rng& rng) const {
  // Distinct documents: redraw a repeat (at most `chunks` of `documents` are taken, so this ends).
  std::vector<std::int64_t> picked;
  picked.reserve(static_cast<std::size_t>(chunks_));
  while (static_cast<std::int64_t>(picked.size()) < chunks_) {
    const std::int64_t d = popularity_.pick(rng.uniform());
    if (std::find(picked.begin(), picked.end(), d) == picked.end()) picked.push_back(d);
  }
  const std::int64_t context = system_prompt_ + chunks_ * chunk_tokens_;
  r.prompt_tokens += context;
  r.hash_block_tokens = kIdTokens;
  r.hash_tokens = context;
  r.hash_ids.clear();
  r.hash_ids.reserve(static_cast<std::size_t>(context / kIdTokens));
  for (std::int64_t u = 0; u < system_prompt_ / kIdTokens; ++u) r.hash_ids.push_back(content_id(0, u));
  for (std::int64_t d : picked)
    for (std::int64_t u = 0; u < chunk_tokens_ / kIdTokens; ++u) r.hash_ids.push_back(content_id(d + 1, u));
}

}  // namespace hetsim::workload
