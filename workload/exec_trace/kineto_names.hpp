#pragma once
// What the names in a PyTorch profiler (Kineto) trace mean for the replay: the op class of a GPU
// kernel, the collective an NCCL kernel or a c10d / record_param_comms op stands for, and the
// size of a PyTorch dtype.
#include <optional>
#include <string_view>

#include "sim/core/op.hpp"
#include "workload/exec_trace/exec_trace.hpp"

namespace hetsim::exec_trace::kineto {

/// Op class of a compute kernel (or memcpy / memset) from its name; see the rules in the .cpp.
OpClass kernel_class(std::string_view name);

/// True for an NCCL kernel (its name starts with "nccl").
bool is_nccl_kernel(std::string_view name);

/// What a communication op does: a collective of kind `collective`, or a one-sided send / recv.
struct CommKind {
  TraceOpKind kind = TraceOpKind::collective;
  Collective collective = Collective::none;
};

/// The kind named by a PyTorch "Collective name" ("allreduce", "_allgather_base", "all_to_allv",
/// "reduce_scatter_tensor_coalesced", "send", ...), a profiler range ("nccl:all_reduce") or a c10d
/// op ("c10d::alltoall_base_"); nullopt if it names no collective we know.
std::optional<CommKind> comm_kind_of_op(std::string_view name);

/// The kind an NCCL kernel name encodes ("ncclKernel_AllReduce_RING_LL_Sum_float(...)",
/// "ncclDevKernel_AllGather_RING_LL(...)"); nullopt if it encodes none we know.
std::optional<CommKind> comm_kind_of_kernel(std::string_view name);

/// Bytes per element of a PyTorch dtype as the profiler writes it: a ScalarType name in
/// "dtype" ("Float", "BFloat16", ...) or a C++ type name in "Input type" ("float",
/// "c10::Half", "unsigned char", ...); nullopt if unknown.
std::optional<double> dtype_bytes(std::string_view dtype);

}  // namespace hetsim::exec_trace::kineto
