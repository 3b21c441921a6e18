#include "workload/document_packing.hpp"

#include <algorithm>

namespace hetsim::workload {

DocumentPacker::DocumentPacker(const LengthDistribution& lengths, std::int64_t seq_len, Rng rng)
    : lengths_(lengths), seq_len_(seq_len), rng_(std::move(rng)) {}

double DocumentPacker::next_sequence() {
  const double S = static_cast<double>(seq_len_);
  double work = 0;
  for (const std::int64_t doc : next_documents(seq_len_)) {
    const double l = static_cast<double>(doc);
    work += l * (l + 1);
  }
  return work / (S * (S + 1));
}

std::vector<std::int64_t> DocumentPacker::next_documents(std::int64_t tokens) {
  std::vector<std::int64_t> docs;
  std::int64_t filled = 0;
  while (filled < tokens) {
    std::int64_t doc = carried_ > 0 ? carried_ : std::max<std::int64_t>(1, lengths_.sample(rng_));
    carried_ = 0;
    const std::int64_t room = tokens - filled;
    if (doc > room) {
      carried_ = doc - room;
      doc = room;
    }
    docs.push_back(doc);
    filled += doc;
  }
  return docs;
}

}  // namespace hetsim::workload
