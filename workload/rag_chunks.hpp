#pragma once
// Retrieval-augmented prompts for synthetic workloads: each request's prompt starts with an
// optional system prompt shared by all, then `chunks` document chunks of `chunk_tokens` tokens
// retrieved from a corpus of `documents` (distinct per request, in retrieval order, drawn
// uniformly or by Zipf popularity), then the drawn prompt (the question). Content ids name the
// system prompt and every chunk, so a prefix cache reuses the system prompt and a leading chunk,
// and CacheBlend (policies/kv_cache/cacheblend.cpp) reuses chunks anywhere. CacheBlend's RAG runs
// split documents into 512-token chunks and retrieve the top 6 (Yao et al., EuroSys'25, Sec. 7.1):
// the defaults.
//
//   rag: {documents: 2000, chunk_tokens: 512, chunks: 6, popularity: zipf, zipf_s: 1.0, system_prompt: 256}
#include <cstdint>
#include <optional>
#include <vector>

#include "sim/core/config.hpp"
#include "sim/core/request.hpp"
#include "sim/core/rng.hpp"
#include "workload/popularity.hpp"

namespace hetsim::workload {

class RagChunks {
 public:
  /// Tokens per content id: chunks and the system prompt are whole multiples of it.
  static constexpr std::int32_t kIdTokens = 16;
  /// workload.rag, if the section has one.
  static std::optional<RagChunks> parse(const config::Node& workload);
  /// Puts the system prompt and `chunks` retrieved chunks before `r`'s prompt, drawing from `rng`.
  void apply(Request& r, Rng& rng) const;

 private:
  std::int64_t documents_ = 1, chunk_tokens_ = 512, chunks_ = 6, system_prompt_ = 0;
  Popularity popularity_;  ///< of documents 0..documents-1
};

}  // namespace hetsim::workload
