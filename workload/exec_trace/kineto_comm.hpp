#pragma once
// What an NCCL kernel of a Kineto trace communicates: its collective kind, payload, process group
// and group ranks, from the kernel's own args (PyTorch >= 2.1 copies them there), else from the
// CPU-side ops around its launch (record_param_comms, the "nccl:<collective>" profiler range and
// the c10d op with its tensor shapes, as older PyTorch records them).
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "workload/exec_trace/exec_trace.hpp"

namespace hetsim::exec_trace::kineto {

/// The communication CPU ops of a trace (record_param_comms, nccl:*, c10d::*) by host thread.
class CommOps {
 public:
  /// Keeps `e` (a complete cpu_op / user_annotation event named `name`, its ts and dur already
  /// checked) if it is one of them.
  void add_if_comm(const nlohmann::json& e, const std::string& name);
  /// Call once after the last add_if_comm.
  void sort();
  /// The ops on the thread of `call` whose span holds its start, innermost first.
  std::vector<const nlohmann::json*> enclosing(const nlohmann::json& call) const;

 private:
  struct Span {
    double ts, end;  // µs, as recorded
    const nlohmann::json* event;
  };
  std::map<std::string, std::vector<Span>> by_thread_;  // sorted by ts
};

/// Fills kind, cls, collective, bytes, group and group_ranks of `op` for NCCL kernel `kernel`
/// launched by `launch` (nullptr: not recorded). `where` names the event in errors.
/// InputError for a collective whose kind is unknown or whose recorded size is unusable. A trace
/// that records no size for it (older PyTorch: all-reduce of a tensor list) gives bytes = 0.
void apply_comm_info(const nlohmann::json& kernel, const nlohmann::json* launch, const CommOps& ops,
                     const std::string& where, TraceOp& op);

}  // namespace hetsim::exec_trace::kineto
