#pragma once
// Import of published kernel measurements from the Vidur project's profiling data (microsoft/vidur,
// `data/profiling/`, MIT; Agrawal et al., "Vidur", MLSys 2024): per-layer op times of real models
// on A100/H100 (one CSV per model) and NCCL all-reduce / send-recv times. Each measured op becomes
// a Measurement with the FLOPs and bytes hetsim's graph builder would give the same op, so the
// fitted curves price hetsim's ops on the scale they were measured on.
#include <filesystem>
#include <string>
#include <vector>

#include "kernels/measurement.hpp"

namespace hetsim::calibrate {

/// Every `*.mlp.csv` in `dir` (sorted by name): one Measurement per (model, TP degree, token count,
/// op), `group` = the model (leave-one-model-out held-out error), times = Vidur's medians.
std::vector<Measurement> import_vidur_ops(const std::filesystem::path& dir);

/// One NCCL collective file (`SETUP.all_reduce.csv` or `SETUP.send_recv.csv`): one Measurement per
/// row, class collective, shape "collective=all_reduce;ranks=R;nodes=N;payload=B", `bytes` =
/// payload bytes per rank (Vidur's `size`, which its simulator reads as bytes), group = "R/N".
std::vector<Measurement> import_vidur_collectives(const std::filesystem::path& file);

/// A field of a Measurement's shape string ("a=1;b=2"), or `fallback` when absent (or, for the
/// number, not a number).
std::string shape_text(const std::string& shape, const std::string& key, const std::string& fallback = "");
double shape_field(const std::string& shape, const std::string& key, double fallback = 0);

}  // namespace hetsim::calibrate
