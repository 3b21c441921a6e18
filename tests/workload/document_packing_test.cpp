// Packing documents into fixed-length sequences: the causal attention work of a packed sequence
// relative to one sequence-long document, with documents continuing across sequence boundaries.
#include <catch2/catch.hpp>

#include "sim/core/config.hpp"
#include "workload/document_packing.hpp"

using namespace hetsim;

namespace {
workload::LengthDistribution fixed(int tokens) {
  const auto doc = config::Document::load_string(fmt::format("lengths: {}\n", tokens), "packing_test.yaml");
  return workload::LengthDistribution::parse(doc.root().child("lengths"));
}
}  // namespace

TEST_CASE("document packing: documents that tile a sequence give the sum of their causal work", "[workload][documents]") {
  const auto lengths = fixed(1024);
  workload::DocumentPacker packer(lengths, 4096, Rng(1, "test"));
  const double expected = 4.0 * 1024 * 1025 / (4096.0 * 4097);
  for (int i = 0; i < 3; ++i) CHECK(packer.next_sequence() == Approx(expected));
  workload::DocumentPacker whole(fixed(4096), 4096, Rng(1, "test"));
  CHECK(whole.next_sequence() == Approx(1.0));
}

TEST_CASE("document packing: a document longer than the room left continues in the next sequence", "[workload][documents]") {
  // 6144-token documents in 4096-token sequences: [4096], [2048 | 2048], [4096], ...
  workload::DocumentPacker packer(fixed(6144), 4096, Rng(1, "test"));
  CHECK(packer.next_sequence() == Approx(1.0));
  CHECK(packer.next_sequence() == Approx(2.0 * 2048 * 2049 / (4096.0 * 4097)));
  CHECK(packer.next_sequence() == Approx(1.0));
}
