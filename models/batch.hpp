#pragma once
// What one model step processes, aggregated so that building its ops costs O(1) whatever the batch
// size: attention cost depends on sums over sequences (query-key pairs, KV tokens read), and the
// linear layers only on the token count.
#include <cstdint>

namespace hetsim::models {

struct BatchShape {
  std::int64_t prefill_tokens = 0;     ///< new prompt tokens fed in this step (all chunks)
  std::int64_t prefill_chunks = 0;     ///< prompt chunks in this step
  double prefill_attn_pairs = 0;       ///< causal query-key pairs: sum of c*p + c(c+1)/2
  double prefill_kv_read_tokens = 0;   ///< KV tokens read by prefill attention: sum of p + c
  std::int64_t logit_tokens = 0;       ///< positions that produce a token (decodes + chunks ending a prompt)
  std::int64_t decode_seqs = 0;        ///< sequences generating one token each
  double decode_context_tokens = 0;    ///< sum of their context lengths, the new token included
  /// Speculative decoding: draft tokens verified after the decoding sequences' own token (k per
  /// sequence that speculates), and the query-key pairs they add: draft j attends to context + j.
  std::int64_t draft_tokens = 0;
  double draft_attn_pairs = 0;

  /// A chunk of `tokens` prompt tokens after `context_before` cached ones.
  void add_prefill(std::int64_t tokens, std::int64_t context_before, bool completes_prompt) {
    const double c = static_cast<double>(tokens), p = static_cast<double>(context_before);
    prefill_tokens += tokens;
    prefill_chunks += 1;
    prefill_attn_pairs += c * p + c * (c + 1) / 2;
    prefill_kv_read_tokens += p + c;
    if (completes_prompt) logit_tokens += 1;
  }
  /// One decode sequence whose context, the new token included, is `context_len`.
  void add_decode(std::int64_t context_len) {
    decode_seqs += 1;
    decode_context_tokens += static_cast<double>(context_len);
    logit_tokens += 1;
  }
  /// A decoding sequence verifying `drafts` draft tokens after its own (speculative decoding): one
  /// step feeds 1 + drafts tokens and produces a token at each, like a short prefill chunk, but on
  /// the decode kernel (the context is read once for all its queries).
  void add_verify(std::int64_t context_len, std::int64_t drafts) {
    add_decode(context_len);
    const double d = static_cast<double>(drafts);
    draft_tokens += drafts;
    draft_attn_pairs += d * static_cast<double>(context_len) + d * (d + 1) / 2;
    logit_tokens += drafts;
  }
  std::int64_t tokens() const { return prefill_tokens + decode_seqs + draft_tokens; }
  /// One of `n` equal parts of the batch (counts rounded up, sums divided): a sub-batch of a
  /// pipelined step, or one data-parallel rank's share of an instance's batch.
  BatchShape share(int n) const {
    const auto up = [n](std::int64_t v) { return (v + n - 1) / n; };
    const double k = 1.0 / n;
    BatchShape s;
    s.prefill_tokens = up(prefill_tokens);
    s.prefill_chunks = up(prefill_chunks);
    s.prefill_attn_pairs = prefill_attn_pairs * k;
    s.prefill_kv_read_tokens = prefill_kv_read_tokens * k;
    s.logit_tokens = up(logit_tokens);
    s.decode_seqs = up(decode_seqs);
    s.decode_context_tokens = decode_context_tokens * k;
    s.draft_tokens = up(draft_tokens);
    s.draft_attn_pairs = draft_attn_pairs * k;
    return s;
  }
  bool empty() const { return tokens() == 0; }
  /// Only decoding sequences: no prompt tokens or chunks in the step.
  bool decode_only() const { return prefill_tokens == 0 && prefill_chunks == 0; }
};

}  // namespace hetsim::models
