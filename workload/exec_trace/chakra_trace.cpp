#include "workload/exec_trace/chakra_trace.hpp"

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <regex>
#include <unordered_map>

#include "chakra_et.pb.h"
#include "sim/core/error.hpp"

namespace hetsim::exec_trace {
namespace {

namespace pb = ChakraProtoMsg;
using google::protobuf::io::CodedInputStream;

/// What to do about edges no schedule can honour, in the errors that report them.
constexpr const char* kDepsHint =
    "traces converted from PyTorch put each op's parent op in ctrl_deps: replay.ctrl_deps: false orders by data_deps "
    "only, as Chakra's own feeder does; replay.unknown_deps: drop ignores such edges";

/// Files above this are refused before reading (the largest public per-rank traces are ~100 MB).
constexpr std::uintmax_t kMaxChakraFileBytes = 2ULL << 30;

std::optional<std::int64_t> int_attr(const pb::AttributeProto& a) {
  switch (a.value_case()) {
    case pb::AttributeProto::kInt32Val: return a.int32_val();
    case pb::AttributeProto::kInt64Val: return a.int64_val();
    case pb::AttributeProto::kUint32Val: return a.uint32_val();
    case pb::AttributeProto::kUint64Val: return static_cast<std::int64_t>(std::min<std::uint64_t>(a.uint64_val(), INT64_MAX));
    case pb::AttributeProto::kSint32Val: return a.sint32_val();
    case pb::AttributeProto::kSint64Val: return a.sint64_val();
    case pb::AttributeProto::kFixed32Val: return a.fixed32_val();
    case pb::AttributeProto::kFixed64Val: return static_cast<std::int64_t>(std::min<std::uint64_t>(a.fixed64_val(), INT64_MAX));
    case pb::AttributeProto::kSfixed32Val: return a.sfixed32_val();
    case pb::AttributeProto::kSfixed64Val: return a.sfixed64_val();
    case pb::AttributeProto::kBoolVal: return a.bool_val() ? 1 : 0;
    default: return std::nullopt;
  }
}

std::optional<double> number_attr(const pb::AttributeProto& a) {
  if (a.value_case() == pb::AttributeProto::kDoubleVal) return a.double_val();
  if (a.value_case() == pb::AttributeProto::kFloatVal) return a.float_val();
  if (auto i = int_attr(a)) return static_cast<double>(*i);
  return std::nullopt;
}

template <class Message>
const pb::AttributeProto* find_attr(const Message& m, std::string_view name) {
  for (const auto& a : m.attr())
    if (a.name() == name) return &a;
  return nullptr;
}

/// Chakra's comm_type values (CollectiveCommType) onto hetsim's collectives. Reduce, gather and
/// scatter have no ring of their own here: they are priced as the ring collective that moves the
/// same bytes per link (reduce-scatter, all-gather, reduce-scatter); a barrier is an all-reduce of
/// nothing (latency only).
std::optional<Collective> collective_of(std::int64_t comm_type) {
  switch (comm_type) {
    case pb::ALL_REDUCE: return Collective::all_reduce;
    case pb::REDUCE: return Collective::reduce_scatter;
    case pb::ALL_GATHER: return Collective::all_gather;
    case pb::GATHER: return Collective::all_gather;
    case pb::SCATTER: return Collective::reduce_scatter;
    case pb::BROADCAST: return Collective::broadcast;
    case pb::ALL_TO_ALL: return Collective::all_to_all;
    case pb::REDUCE_SCATTER: return Collective::reduce_scatter;
    case pb::REDUCE_SCATTER_BLOCK: return Collective::reduce_scatter;
    case pb::BARRIER: return Collective::all_reduce;
    default: return std::nullopt;
  }
}

std::string read_all(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw InputError(fmt::format("{}: cannot read the Chakra trace ({})", path, ec.message()));
  if (size > kMaxChakraFileBytes)
    throw InputError(fmt::format("{}: {} bytes; expected a Chakra trace of at most {} bytes", path, size, kMaxChakraFileBytes));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open the Chakra trace", path));
  std::string data(static_cast<std::size_t>(size), '\0');
  in.read(data.data(), static_cast<std::streamsize>(size));
  if (static_cast<std::uintmax_t>(in.gcount()) != size) throw InputError(fmt::format("{}: read failed", path));
  return data;
}

}  // namespace

int chakra_rank_from_name(const std::string& path) {
  static const std::regex re(R"(.*\.([0-9]{1,7})\.et$)");
  std::smatch m;
  const std::string name = std::filesystem::path(path).filename().string();
  if (!std::regex_match(name, m, re)) return -1;
  return std::stoi(m[1].str());
}

OpClass classify_compute(const std::string& name) {
  std::string n(name.size(), ' ');
  std::transform(name.begin(), name.end(), n.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto has = [&](std::string_view s) { return n.find(s) != std::string::npos; };
  // Attention first: fused attention kernels often carry "gemm" in their names too.
  if (has("attention") || has("sdpa") || has("flash") || has("fmha")) return OpClass::attention_prefill;
  for (std::string_view g : {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::linear", "aten::matmul",
                             "aten::conv", "aten::_convolution", "aten::cudnn_convolution", "gemm", "cutlass", "xmma",
                             "cublas", "matmul"})
    if (has(g)) return OpClass::gemm;
  return OpClass::elementwise;
}

RankTrace read_chakra_trace(const std::string& path, const ChakraOptions& options) {
  const std::string data = read_all(path);
  if (data.size() > static_cast<std::size_t>(INT32_MAX))
    throw InputError(fmt::format("{}: larger than protobuf's 2 GiB stream limit", path));
  RankTrace trace;
  trace.source = path;
  trace.rank = std::max(0, chakra_rank_from_name(path));
  CodedInputStream in(reinterpret_cast<const std::uint8_t*>(data.data()), static_cast<int>(data.size()));
  in.SetTotalBytesLimit(INT32_MAX);
  const auto size = static_cast<int>(data.size());
  bool have_metadata = false;
  std::unordered_map<std::uint64_t, std::size_t> index;  // node id -> position in trace.ops
  std::uint64_t first_start = UINT64_MAX;
  std::vector<std::uint64_t> starts;

  while (in.CurrentPosition() < size) {
    const int offset = in.CurrentPosition();
    std::uint32_t length = 0;
    if (!in.ReadVarint32(&length))
      throw InputError(fmt::format("{}: truncated or malformed message length at byte {}", path, offset));
    if (length > kMaxChakraMessageBytes)
      throw InputError(fmt::format("{}: message at byte {} claims {} bytes; expected at most {} (not a Chakra trace?)",
                                   path, offset, length, kMaxChakraMessageBytes));
    if (static_cast<long>(size - in.CurrentPosition()) < static_cast<long>(length))
      throw InputError(fmt::format("{}: truncated: the message at byte {} needs {} bytes, {} remain", path, offset, length,
                                   size - in.CurrentPosition()));
    const auto limit = in.PushLimit(static_cast<int>(length));
    if (!have_metadata) {
      pb::GlobalMetadata meta;
      if (!meta.ParseFromCodedStream(&in) || !in.ConsumedEntireMessage())
        throw InputError(fmt::format("{}: malformed GlobalMetadata at byte {}", path, offset));
      for (const char* key : {"world_size", "num_ranks"})
        if (const auto* a = find_attr(meta, key))
          if (auto v = int_attr(*a); v && *v >= 1 && *v <= (1 << 20)) trace.world_size = static_cast<int>(*v);
      if (const auto* a = find_attr(meta, "rank"))
        if (auto v = int_attr(*a); v && *v >= 0 && *v < (1 << 20)) trace.rank = static_cast<int>(*v);
      have_metadata = true;
      in.PopLimit(limit);
      continue;
    }
    pb::Node node;
    if (!node.ParseFromCodedStream(&in) || !in.ConsumedEntireMessage())
      throw InputError(fmt::format("{}: malformed node at byte {}", path, offset));
    in.PopLimit(limit);
    if (trace.ops.size() >= kMaxChakraNodes)
      throw InputError(fmt::format("{}: more than {} nodes; expected at most that many per rank", path, kMaxChakraNodes));
    if (!index.emplace(node.id(), trace.ops.size()).second)
      throw InputError(fmt::format("{}: node id {} (byte {}) appears twice", path, node.id(), offset));

    TraceOp op;
    op.id = node.id();
    op.name = node.name();
    if (options.ctrl_deps)
      for (auto d : node.ctrl_deps()) op.deps.push_back(d);
    for (auto d : node.data_deps()) op.deps.push_back(d);
    std::sort(op.deps.begin(), op.deps.end());
    op.deps.erase(std::unique(op.deps.begin(), op.deps.end()), op.deps.end());
    if (std::find(op.deps.begin(), op.deps.end(), op.id) != op.deps.end()) {
      // Seen in real converted traces (the feeder sample's node 3322): an edge no schedule can honour.
      if (!options.drop_unknown_deps)
        throw InputError(fmt::format("{}: node id {} ({}) depends on itself ({})", path, op.id, op.name, kDepsHint));
      std::erase(op.deps, op.id);
      ++trace.dropped_deps;
    }
    auto attr_int = [&](std::string_view key) -> std::optional<std::int64_t> {
      if (const auto* a = find_attr(node, key)) return int_attr(*a);
      return std::nullopt;
    };
    auto need_int = [&](std::string_view key, std::int64_t lo, std::int64_t hi) {
      const auto v = attr_int(key);
      if (!v || *v < lo || *v > hi)
        throw InputError(fmt::format("{}: node id {} ({}): attribute {} {}; expected an integer in [{}, {}]", path, op.id,
                                     op.name, key, v ? std::to_string(*v) : "missing", lo, hi));
      return *v;
    };
    const double micros = static_cast<double>(node.duration_micros());
    if (micros > 1e12)
      throw InputError(fmt::format("{}: node id {}: duration {} us; expected at most 1e12", path, op.id, micros));
    switch (node.type()) {
      case pb::COMP_NODE: {
        op.kind = TraceOpKind::compute;
        const auto cpu = attr_int("is_cpu_op");
        if (cpu && *cpu != 0) break;  // host-side op: no GPU time, only ordering
        op.cls = classify_compute(op.name);
        op.duration = micros * 1e-6;
        if (const auto* a = find_attr(node, "num_ops"))
          if (auto f = number_attr(*a); f && *f > 0 && *f < 1e21) op.flops = *f;
        break;
      }
      case pb::COMM_COLL_NODE: {
        // PyTorch-converted traces hold the host-side c10d call (is_cpu_op, no comm_type) beside
        // the NCCL kernel node: the host call only orders, the kernel is the collective.
        if (const auto cpu = attr_int("is_cpu_op"); cpu && *cpu != 0) break;
        op.kind = TraceOpKind::collective;
        op.cls = OpClass::collective;
        const auto type = need_int("comm_type", 0, 1000);
        const auto kind = collective_of(type);
        if (!kind)
          throw InputError(fmt::format("{}: node id {} ({}): comm_type {}; expected 0-9 (ALL_REDUCE .. BARRIER)", path, op.id,
                                       op.name, type));
        op.collective = *kind;
        op.bytes = type == pb::BARRIER ? 0.0 : static_cast<double>(need_int("comm_size", 0, 1LL << 50));
        op.duration = micros * 1e-6;
        if (const auto* a = find_attr(node, "pg_name"); a && a->value_case() == pb::AttributeProto::kStringVal)
          op.group = a->string_val();
        else if (auto pg = attr_int("pg_name"))
          op.group = std::to_string(*pg);
        break;
      }
      case pb::COMM_SEND_NODE:
      case pb::COMM_RECV_NODE: {
        const bool send = node.type() == pb::COMM_SEND_NODE;
        op.kind = send ? TraceOpKind::send : TraceOpKind::recv;
        op.cls = OpClass::collective;
        op.collective = Collective::send_recv;
        op.peer = static_cast<int>(need_int(send ? "comm_dst" : "comm_src", 0, (1 << 20) - 1));
        op.tag = attr_int("comm_tag").value_or(0);
        op.bytes = static_cast<double>(need_int("comm_size", 0, 1LL << 50));
        op.duration = micros * 1e-6;
        break;
      }
      case pb::METADATA_NODE:
      case pb::MEM_LOAD_NODE:
      case pb::MEM_STORE_NODE:
        op.kind = TraceOpKind::compute;  // pass-through: zero duration, only orders its dependents
        break;
      default:
        throw InputError(fmt::format("{}: node id {} (byte {}): node type {}; expected 1-7 (METADATA_NODE .. COMM_COLL_NODE)",
                                     path, op.id, offset, static_cast<int>(node.type())));
    }
    starts.push_back(node.start_time_micros());
    if (node.start_time_micros() > 0) first_start = std::min(first_start, node.start_time_micros());
    trace.ops.push_back(std::move(op));
  }
  if (!have_metadata) throw InputError(fmt::format("{}: empty; expected a Chakra trace (GlobalMetadata, then nodes)", path));
  for (std::size_t i = 0; i < trace.ops.size(); ++i) {
    if (starts[i] >= first_start && first_start != UINT64_MAX)
      trace.ops[i].start = static_cast<double>(starts[i] - first_start) * 1e-6;
    auto& deps = trace.ops[i].deps;
    for (auto d : deps)
      if (!index.contains(d) && !options.drop_unknown_deps)
        throw InputError(fmt::format("{}: node id {} ({}) depends on node id {}, which the file does not hold ({})", path,
                                     trace.ops[i].id, trace.ops[i].name, d, kDepsHint));
    const auto before = deps.size();
    std::erase_if(deps, [&](std::uint64_t d) { return !index.contains(d); });
    trace.dropped_deps += before - deps.size();
  }
  return trace;
}

}  // namespace hetsim::exec_trace
