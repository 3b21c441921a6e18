#pragma once
// `hetsim explain SCENARIO --prefill C@P --decode N@CTX` (or `--steps RUN/steps.csv --row N`): one
// serving step taken apart, op by op: FLOPs, bytes per operand, roofline terms, which one bounds it,
// achieved fraction of the roofline, where the efficiency comes from, launch overheads, time; then
// the serving stack's host work and the step total, computed by the same pricer as the run (so a
// row of steps.csv written with `output.step_detail: true` is reproduced to the bit).
#include <optional>
#include <string>
#include <vector>

#include "models/batch.hpp"
#include "sim/scenario/scenario.hpp"

namespace hetsim::tools {

struct ExplainOptions {
  std::string pool;                   ///< pool to explain (default: the first)
  std::optional<int> tp;              ///< tensor-parallel degree in place of the pool's
  std::vector<std::string> prefills;  ///< "C[@P][:partial]": C prompt tokens after P cached ones
  std::vector<std::string> decodes;   ///< "N@CTX": N sequences with CTX tokens in their KV cache
  std::string steps;                  ///< a steps.csv written with output.step_detail: true
  std::int64_t row = 0;               ///< its step (1 = first data row)
  std::string out;                    ///< folder for explain.csv and explain.json (none: print only)
};

/// The batch of "C[@P][:partial]" prefill chunks and "N@CTX" decode groups; InputError naming the
/// flag and value when one does not parse.
models::BatchShape parse_batch(const std::vector<std::string>& prefills, const std::vector<std::string>& decodes);

int run_explain(const sim::Scenario& scenario, const ExplainOptions& options);

}  // namespace hetsim::tools
