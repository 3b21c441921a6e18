#pragma once
// Chakra execution traces for the tests: the real samples in the shared data folder (a test that
// finds one missing fails, never skips), and small synthetic traces written with the generated
// protobuf classes (the same wire format: GlobalMetadata, then length-prefixed Nodes).
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "chakra_et.pb.h"
#include "support.hpp"

namespace hetsim::test {

/// A file under <shared data>/chakra/; std::runtime_error (a failed test) if it is missing.
inline std::string chakra_file(const std::string& relative) {
  const std::string path = shared_data() + "/chakra/" + relative;
  if (!std::filesystem::exists(path)) throw std::runtime_error("shared data missing: " + path);
  return path;
}
inline std::string astra_allreduce(int rank) {
  return chakra_file("astra-sim-microbenchmarks/all_reduce_8npus_1MB/all_reduce." + std::to_string(rank) + ".et");
}
inline std::string astra_custom_ring(int rank) {
  return chakra_file("astra-sim-microbenchmarks/custom_ring_allreduce_8npus_1MB/custom_allreduce." + std::to_string(rank) + ".et");
}
inline std::string chakra_feeder() { return chakra_file("chakra_feeder_rank0.et"); }

/// Writes `nodes` after a GlobalMetadata as a Chakra trace at `path`.
inline void write_chakra(const std::string& path, const std::vector<ChakraProtoMsg::Node>& nodes) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream raw(&bytes);
    google::protobuf::io::CodedOutputStream out(&raw);
    ChakraProtoMsg::GlobalMetadata meta;
    meta.set_version("0.0.4");
    out.WriteVarint32(static_cast<std::uint32_t>(meta.ByteSizeLong()));
    meta.SerializeToCodedStream(&out);
    for (const auto& n : nodes) {
      out.WriteVarint32(static_cast<std::uint32_t>(n.ByteSizeLong()));
      n.SerializeToCodedStream(&out);
    }
  }
  std::ofstream(path, std::ios::binary) << bytes;
}

inline ChakraProtoMsg::Node chakra_node(std::uint64_t id, ChakraProtoMsg::NodeType type, std::vector<std::uint64_t> deps = {}) {
  ChakraProtoMsg::Node n;
  n.set_id(id);
  n.set_name("node" + std::to_string(id));
  n.set_type(type);
  for (auto d : deps) n.add_data_deps(d);
  return n;
}

inline void add_int_attr(ChakraProtoMsg::Node& n, const std::string& name, std::int64_t v) {
  auto* a = n.add_attr();
  a->set_name(name);
  a->set_int64_val(v);
}

}  // namespace hetsim::test
