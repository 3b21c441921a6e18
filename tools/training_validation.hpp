#pragma once
// `hetsim validation --training`: runs every runnable case of validation/training_cases.yaml
// (published, measured training throughput with its exact configuration and source) as a
// training scenario and writes the published-vs-simulated table. Each case's throughput is
// compared in its source's own accounting: Megatron-LM's Table 1 in TFLOP/s per GPU by its Eq. (3)
// (full recompute counted), llm-foundry's table in MFU by its 6N + 12 l h s FLOPs per token, NeMo's
// DGX-H100 FP8 table in tokens/s per GPU (independent of FLOP-counting conventions).
#include <string>

namespace hetsim::tools {

struct TrainingValidationOptions {
  std::string cases = "validation/training_cases.yaml";
  std::string out = "validation/training_results.md";  ///< table (Markdown); a CSV is written beside it
  int jobs = 2;
  /// Exit 1 unless every case that ran is within this relative error (0: no check).
  double within = 0;
  /// Keep each case's generated scenario, run log and outputs here (empty: a temporary folder, removed).
  std::string keep;
};

int run_training_validation(const TrainingValidationOptions& options);

}  // namespace hetsim::tools
