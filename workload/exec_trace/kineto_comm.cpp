#include "workload/exec_trace/kineto_comm.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <optional>

#include "sim/core/error.hpp"
#include "workload/exec_trace/kineto_names.hpp"

namespace hetsim::exec_trace::kineto {
namespace {

using nlohmann::json;

std::string thread_key(const json& e) {
  const auto pid = e.find("pid");
  const auto tid = e.find("tid");
  return (pid == e.end() ? "" : pid->dump()) + "/" + (tid == e.end() ? "" : tid->dump());
}

std::string name_of(const json& e) { return e.contains("name") && e["name"].is_string() ? e["name"].get<std::string>() : ""; }

const json* args_of(const json& e) {
  const auto it = e.find("args");
  return it != e.end() && it->is_object() ? &*it : nullptr;
}

/// "[0, 1, 2]" -> {0, 1, 2}; nullopt for anything else (PyTorch shortens long lists with "...",
/// which must not read as a smaller group).
std::optional<std::vector<int>> parse_ranks(const std::string& text) {
  std::vector<int> out;
  const char* p = text.data();
  const char* end = p + text.size();
  auto skip = [&] { while (p != end && (*p == ' ' || *p == ',')) ++p; };
  if (p == end || *p++ != '[') return std::nullopt;
  for (skip(); p != end && *p != ']'; skip()) {
    int v = 0;
    auto [q, ec] = std::from_chars(p, end, v);
    if (ec != std::errc{} || v < 0) return std::nullopt;
    out.push_back(v);
    p = q;
  }
  if (p == end || ++p != end) return std::nullopt;
  return out;
}

/// What is known so far about one collective; each source fills only what is still missing, so
/// the first source in priority order wins.
struct CommInfo {
  std::optional<CommKind> kind;
  std::optional<double> in_bytes, out_bytes;
  std::optional<std::string> group;
  std::optional<std::vector<int>> ranks;
  std::optional<int> group_size;
};

/// PyTorch's comms metadata ("Collective name", "In msg nelems", "Out msg nelems", "dtype",
/// "Process Group Name", "Process Group Ranks", "Group size") on a kernel or record_param_comms.
void from_comm_args(const json& args, const std::string& where, CommInfo& info) {
  if (const auto it = args.find("Collective name"); it != args.end() && it->is_string() && !info.kind) {
    info.kind = comm_kind_of_op(it->get<std::string>());
    if (!info.kind) throw InputError(fmt::format("{}: unknown Collective name '{}'", where, it->get<std::string>()));
  }
  const auto in = args.find("In msg nelems");
  const auto out = args.find("Out msg nelems");
  if ((in != args.end() || out != args.end()) && (!info.in_bytes || !info.out_bytes)) {
    const auto dtype = args.find("dtype");
    const std::string type = dtype != args.end() && dtype->is_string() ? dtype->get<std::string>() : "";
    const auto size = dtype_bytes(type);
    if (!size) throw InputError(fmt::format("{}: message dtype '{}' unknown, cannot size the collective", where, type));
    auto bytes = [&](json::const_iterator it, const char* key) -> std::optional<double> {
      if (it == args.end()) return std::nullopt;
      if (!it->is_number() || it->get<double>() < 0)
        throw InputError(fmt::format("{}: '{}' = {}: expected a non-negative number", where, key, it->dump()));
      return it->get<double>() * *size;
    };
    if (!info.in_bytes) info.in_bytes = bytes(in, "In msg nelems");
    if (!info.out_bytes) info.out_bytes = bytes(out, "Out msg nelems");
  }
  if (const auto it = args.find("Process Group Name"); it != args.end() && it->is_string() && !info.group)
    info.group = it->get<std::string>();
  if (const auto it = args.find("Process Group Ranks"); it != args.end() && it->is_string() && !info.ranks)
    info.ranks = parse_ranks(it->get<std::string>());
  if (const auto it = args.find("Group size"); it != args.end() && it->is_number_integer() && !info.group_size &&
      it->get<std::int64_t>() >= 1 && it->get<std::int64_t>() <= 1'000'000'000)
    info.group_size = static_cast<int>(it->get<std::int64_t>());
}

/// Bytes of tensor `i` of an op recorded with shapes ("Input Dims" / "Input type"), if it is a
/// single tensor of a known dtype.
std::optional<double> tensor_bytes(const json& args, std::size_t i) {
  const auto dims = args.find("Input Dims");
  const auto types = args.find("Input type");
  if (dims == args.end() || types == args.end() || !dims->is_array() || !types->is_array()) return std::nullopt;
  if (i >= dims->size() || i >= types->size() || !(*types)[i].is_string() || !(*dims)[i].is_array()) return std::nullopt;
  const json& shape = (*dims)[i];
  if (shape.empty()) return std::nullopt;  // a tensor list or a scalar: shapes not recorded
  const auto size = dtype_bytes((*types)[i].get<std::string>());
  if (!size) return std::nullopt;
  double n = 1;
  for (const auto& d : shape) {
    if (!d.is_number_integer() || d.get<std::int64_t>() < 0) return std::nullopt;
    n *= static_cast<double>(d.get<std::int64_t>());
  }
  return n * *size;
}

/// Older PyTorch (< 2.1) records no comms metadata, only the c10d op and record_param_comms with
/// their input shapes. The c10d ops whose first two arguments are the output and input tensors
/// (c10d::_allgather_base_, c10d::alltoall_base_, c10d::_reduce_scatter_base_: see
/// torch/csrc/distributed/c10d/Ops.cpp) give both sizes; record_param_comms's first argument is the
/// input. Ops on tensor lists (c10d::allreduce_, c10d::broadcast_) record no shapes.
void from_shapes(const json& op, CommInfo& info) {
  const json* args = args_of(op);
  if (!args) return;
  const std::string name = name_of(op);
  if (name.rfind("c10d::", 0) == 0 && name.find("_base_") != std::string::npos) {
    if (!info.out_bytes) info.out_bytes = tensor_bytes(*args, 0);
    if (!info.in_bytes) info.in_bytes = tensor_bytes(*args, 1);
  } else if (name == "record_param_comms") {
    if (!info.in_bytes) info.in_bytes = tensor_bytes(*args, 0);
  }
}

}  // namespace

void CommOps::add_if_comm(const json& e, const std::string& name) {
  if (name == "record_param_comms" || name.rfind("nccl:", 0) == 0 || name.rfind("c10d::", 0) == 0)
    by_thread_[thread_key(e)].push_back({e["ts"].get<double>(), e["ts"].get<double>() + e["dur"].get<double>(), &e});
}

void CommOps::sort() {
  for (auto& [thread, ops] : by_thread_)
    std::stable_sort(ops.begin(), ops.end(), [](const Span& a, const Span& b) { return a.ts < b.ts; });
}

std::vector<const json*> CommOps::enclosing(const json& call) const {
  std::vector<const json*> out;
  const auto it = by_thread_.find(thread_key(call));
  if (it == by_thread_.end()) return out;
  const double t = call["ts"].get<double>();
  const auto& ops = it->second;
  // Ops starting at or before t, latest (innermost) first; those that ended before t do not hold it.
  auto last = std::upper_bound(ops.begin(), ops.end(), t, [](double v, const Span& s) { return v < s.ts; });
  for (auto r = std::make_reverse_iterator(last); r != ops.rend(); ++r)
    if (r->end >= t) out.push_back(r->event);
  return out;
}

void apply_comm_info(const json& kernel, const json* launch, const CommOps& ops, const std::string& where, TraceOp& op) {
  CommInfo info;
  // Sources by priority: the kernel's args, then the CPU ops around its launch, innermost first
  // (record_param_comms sits inside the nccl:* range, which sits inside the c10d op).
  if (const json* args = args_of(kernel)) from_comm_args(*args, where, info);
  const auto around = launch ? ops.enclosing(*launch) : std::vector<const json*>{};
  for (const json* e : around)
    if (const json* args = args_of(*e)) from_comm_args(*args, where, info);
  if (!info.kind)
    for (const json* e : around) {
      const std::string name = name_of(*e);
      if (name != "record_param_comms")
        if ((info.kind = comm_kind_of_op(name))) break;
    }
  for (const json* e : around) from_shapes(*e, info);
  // Last resort: the kernel name (an NCCL SendRecv kernel stays a two-sided exchange).
  if (!info.kind) info.kind = comm_kind_of_kernel(name_of(kernel));
  if (!info.kind) throw InputError(fmt::format("{}: NCCL kernel of unknown collective (no Collective name, no nccl:* range)", where));

  op.kind = info.kind->kind;
  op.cls = OpClass::collective;
  op.collective = op.kind == TraceOpKind::collective ? info.kind->collective : Collective::none;
  // Payload convention: the one hw::collective_model prices, nccl-tests' "size": the largest
  // buffer a rank holds. All-gather: the gathered output (the input message x the group size);
  // reduce-scatter: the full input; all-reduce, broadcast, all-to-all, send/recv: the input.
  if (op.collective == Collective::all_gather) {
    if (info.out_bytes)
      op.bytes = *info.out_bytes;
    else if (info.in_bytes && info.group_size)
      op.bytes = *info.in_bytes * *info.group_size;
  } else if (info.in_bytes) {
    op.bytes = *info.in_bytes;
  } else if (info.out_bytes && op.collective != Collective::reduce_scatter) {
    op.bytes = *info.out_bytes;
  }
  op.group = info.group.value_or("");
  if (info.ranks && (!info.group_size || static_cast<int>(info.ranks->size()) == *info.group_size)) op.group_ranks = *info.ranks;
}

}  // namespace hetsim::exec_trace::kineto
