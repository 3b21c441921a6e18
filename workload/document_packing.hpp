#pragma once
// Packing training documents into fixed-length sequences: documents drawn from a length
// distribution fill each sequence one after another, and one that does not fit continues at the
// start of the next (Megatron's GPT dataset concatenates documents this way). With per-document
// attention masks (FlashAttention's variable-length kernels), a sequence's causal attention work is
// the sum over its documents, not that of one sequence-long document:
//   share = sum_i l_i (l_i + 1) / (S (S + 1))
// which is what the training engine scales each pass's attention core by.
#include <cstdint>
#include <vector>

#include "sim/core/rng.hpp"
#include "workload/length_distribution.hpp"

namespace hetsim::workload {

class DocumentPacker {
 public:
  DocumentPacker(const LengthDistribution& lengths, std::int64_t seq_len, Rng rng);
  /// The next sequence's causal attention work relative to a single document of seq_len tokens, in (0, 1].
  double next_sequence();
  /// The lengths of the documents that fill the next `tokens` tokens of the stream, in order; the
  /// last is cut where they end and its rest opens the next call (or sequence).
  std::vector<std::int64_t> next_documents(std::int64_t tokens);

 private:
  LengthDistribution lengths_;
  std::int64_t seq_len_;
  Rng rng_;
  std::int64_t carried_ = 0;  ///< tokens of a document left over from the previous sequence
};

}  // namespace hetsim::workload
