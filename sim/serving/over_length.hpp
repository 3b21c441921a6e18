#pragma once
// What happens to a request whose prompt + output exceed serving.max_model_len
// (`serving.over_length`):
//   reject (default): routed as usual; the replica rejects it, recorded with reason exceeds_max_model_len
//                     (vLLM's behaviour: the server answers with an error).
//   drop:             never admitted; recorded as dropped, outside the latency statistics (a benchmark
//                     client that filters such prompts out, as benchmark_serving's sharegpt sampler does).
//   clip:             prompt and output shortened in proportion so that their sum fits (at least one
//                     token each); requests.csv keeps the original lengths.
#include <cstdint>
#include <string>

#include "sim/core/config.hpp"
#include "sim/core/request.hpp"

namespace hetsim::serving {

class OverLength {
 public:
  enum class Policy { reject, drop, clip };
  /// What apply() did to a request.
  struct Outcome {
    bool dropped = false;
    bool clipped = false;
    std::int64_t original_prompt_tokens = 0;
    std::int64_t original_output_tokens = 0;
    std::string reason;  ///< why it was dropped
  };

  OverLength() = default;
  OverLength(Policy policy, std::int64_t max_model_len) : policy_(policy), max_model_len_(max_model_len) {}
  /// Reads `serving.over_length` (default reject); clip needs max_model_len >= 2.
  static OverLength parse(const config::Node& serving, std::int64_t max_model_len);

  /// Applies the policy to `request` before it is routed (clip shortens it in place).
  Outcome apply(Request& request) const;
  Policy policy() const { return policy_; }
  const char* name() const;

 private:
  Policy policy_ = Policy::reject;
  std::int64_t max_model_len_ = 0;
};

/// Proportional clipping: prompt' = max(1, floor(prompt * limit / (prompt + output))) and
/// output' = limit - prompt', so prompt' + output' = limit, output' <= output and both >= 1
/// (needs limit >= 2 and prompt + output > limit).
void clip_lengths(std::int64_t& prompt, std::int64_t& output, std::int64_t limit);

}  // namespace hetsim::serving
