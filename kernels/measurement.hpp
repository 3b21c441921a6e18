#pragma once
// One timed kernel, as calibrate/ records it in the raw CSV and fits it.
#include <string>
#include <vector>

#include "sim/core/op.hpp"

namespace hetsim::calibrate {

struct Measurement {
  OpClass cls = OpClass::gemm;
  std::string kernel;   ///< e.g. "cublas_bf16", "paged_decode_attention"
  std::string shape;    ///< e.g. "m=1;n=4096;k=4096"
  DType dtype = DType::bf16;
  double flops = 0;     ///< per kernel launch
  double bytes = 0;     ///< device-memory traffic per launch (bus bytes for collectives)
  double seconds = 0;   ///< median time per launch
  std::string group;    ///< what the held-out error leaves out together (imported: the model); "" = none
  std::string op;       ///< the graph-builder op it times (models/, e.g. "input_norm"); "" = only its class
};

/// Raw CSV: op_class,kernel,dtype,shape,flops,bytes,seconds[,group] (shape fields separated by ';';
/// `group` only when some measurement has one).
void write_raw_csv(const std::string& path, const std::vector<Measurement>& measurements);
/// Reads a raw CSV; malformed lines are InputErrors naming file:line.
std::vector<Measurement> read_raw_csv(const std::string& path);

}  // namespace hetsim::calibrate
