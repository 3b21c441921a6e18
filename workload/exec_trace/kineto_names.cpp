#include "workload/exec_trace/kineto_names.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <utility>

namespace hetsim::exec_trace::kineto {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool has_any(const std::string& text, std::initializer_list<std::string_view> needles) {
  return std::any_of(needles.begin(), needles.end(), [&](std::string_view n) { return text.find(n) != std::string::npos; });
}

}  // namespace

// Classification rules, first match wins, on the lower-cased full name (template arguments
// included, as the profiler prints it):
//  1. attention_prefill: "flash", "fmha", "attention", "attn" (FlashAttention, xFormers/cuDNN
//     fused MHA, PyTorch SDPA kernels). Checked first because FMHA kernels are often cutlass-based.
//  2. elementwise: "gemv" (matrix-vector products read the whole matrix once: memory bound).
//  3. gemm: "gemm", "xmma", "cutlass", "cublas", "nvjet", "wgmma", "scudnn" (cuBLAS / cuBLASLt /
//     CUTLASS kernels, Hopper's nvjet, Ampere's sm80_xmma, cuDNN implicit-GEMM convolutions). Their
//     small split-K reduction kernels ("cublasLt::splitKreduce_kernel") land here too; they are a
//     small share of the GEMM time.
//  4. elementwise: everything else, including memcpy and memset (bandwidth bound: normalization,
//     activations, copies, reductions, optimizer updates).
// The class only matters when replaying on other hardware (compute-bound ops scale with the compute
// peak, the rest with memory bandwidth); on the recorded hardware the measured durations are used.
OpClass kernel_class(std::string_view name) {
  const std::string n = lower(name);
  if (has_any(n, {"flash", "fmha", "attention", "attn"})) return OpClass::attention_prefill;
  if (has_any(n, {"gemv"})) return OpClass::elementwise;
  if (has_any(n, {"gemm", "xmma", "cutlass", "cublas", "nvjet", "wgmma", "scudnn"})) return OpClass::gemm;
  return OpClass::elementwise;
}

bool is_nccl_kernel(std::string_view name) { return name.substr(0, 4) == "nccl"; }

std::optional<CommKind> comm_kind_of_op(std::string_view name) {
  // Normalize "nccl:_all_gather_base", "c10d::_allgather_base_", "allgather_into_tensor_coalesced"
  // to letters only ("ncclallgatherbase", ...), then look for the collective's stem.
  std::string n;
  for (char c : lower(name))
    if (std::isalpha(static_cast<unsigned char>(c))) n += c;
  for (std::string_view prefix : {"nccl", "cd"})  // "c10d" loses its digits
    if (n.rfind(prefix, 0) == 0) n.erase(0, prefix.size());
  const CommKind coll{TraceOpKind::collective, Collective::none};
  auto make = [&](Collective c) { return CommKind{coll.kind, c}; };
  if (n.find("allreduce") != std::string::npos) return make(Collective::all_reduce);
  if (n.find("allgather") != std::string::npos) return make(Collective::all_gather);
  if (n.find("reducescatter") != std::string::npos) return make(Collective::reduce_scatter);
  if (n.find("alltoall") != std::string::npos) return make(Collective::all_to_all);
  if (n.find("broadcast") != std::string::npos) return make(Collective::broadcast);
  // c10d implements barrier as a one-element all-reduce.
  if (n.rfind("barrier", 0) == 0) return make(Collective::all_reduce);
  // ncclReduce moves the bytes of a broadcast in reverse (the same ring or tree, one payload per
  // rank), so it is priced as a broadcast; the enum has no reduce.
  if (n.rfind("reduce", 0) == 0) return make(Collective::broadcast);
  if (n.rfind("send", 0) == 0 && n.find("recv") == std::string::npos) return CommKind{TraceOpKind::send, Collective::send_recv};
  if (n.rfind("recv", 0) == 0) return CommKind{TraceOpKind::recv, Collective::send_recv};
  return std::nullopt;
}

std::optional<CommKind> comm_kind_of_kernel(std::string_view name) {
  // NCCL < 2.19: ncclKernel_<Coll>_<Algo>_<Proto>_<Op>_<type>; >= 2.19: ncclDevKernel_<Coll>_...
  std::string_view rest = name;
  for (std::string_view prefix : {"ncclDevKernel_", "ncclKernel_"})
    if (rest.rfind(prefix, 0) == 0) {
      rest.remove_prefix(prefix.size());
      break;
    }
  const std::string coll(rest.substr(0, rest.find_first_of("_(<")));
  // A SendRecv kernel runs a group of sends and receives (NCCL builds all-to-all, gather and
  // scatter from them); the name says neither the direction nor the peer, so it stays a two-sided
  // exchange (Collective::send_recv) unless the CPU-side op names the collective.
  if (coll == "SendRecv") return CommKind{TraceOpKind::collective, Collective::send_recv};
  if (coll == "Send") return CommKind{TraceOpKind::send, Collective::send_recv};
  if (coll == "Recv") return CommKind{TraceOpKind::recv, Collective::send_recv};
  return comm_kind_of_op(coll);
}

std::optional<double> dtype_bytes(std::string_view dtype) {
  static const std::array<std::pair<std::string_view, double>, 34> kSizes{{
      // c10::ScalarType names ("dtype" arg of record_param_comms and NCCL kernels)
      {"Byte", 1}, {"Char", 1}, {"Bool", 1}, {"Short", 2}, {"Int", 4}, {"Long", 8}, {"Half", 2}, {"BFloat16", 2},
      {"Float", 4}, {"Double", 8}, {"ComplexHalf", 4}, {"ComplexFloat", 8}, {"ComplexDouble", 16},
      {"Float8_e4m3fn", 1}, {"Float8_e5m2", 1}, {"Float8_e4m3fnuz", 1}, {"Float8_e5m2fnuz", 1},
      {"UInt16", 2}, {"UInt32", 4}, {"UInt64", 8},
      // C++ type names ("Input type" of older traces)
      {"unsigned char", 1}, {"signed char", 1}, {"bool", 1}, {"short", 2}, {"int", 4}, {"long", 8},
      {"long int", 8}, {"int64_t", 8}, {"c10::Half", 2}, {"c10::BFloat16", 2}, {"float", 4}, {"double", 8},
      {"c10::Float8_e4m3fn", 1}, {"c10::Float8_e5m2", 1},
  }};
  for (const auto& [name, size] : kSizes)
    if (name == dtype) return size;
  return std::nullopt;
}

}  // namespace hetsim::exec_trace::kineto
