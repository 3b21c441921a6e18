#include "sim/serving/over_length.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "sim/core/error.hpp"

namespace hetsim::serving {

OverLength OverLength::parse(const config::Node& serving, std::int64_t max_model_len) {
  const std::string name = serving.get<std::string>("over_length").default_to("reject").one_of({"reject", "drop", "clip"});
  const Policy policy = name == "drop" ? Policy::drop : name == "clip" ? Policy::clip : Policy::reject;
  if (policy == Policy::clip && max_model_len < 2)
    serving.fail_key("over_length", name,
                     fmt::format("clipping keeps at least one prompt and one output token, so it needs max_model_len >= 2 "
                                 "(it is {})", max_model_len));
  return {policy, max_model_len};
}

const char* OverLength::name() const {
  return policy_ == Policy::drop ? "drop" : policy_ == Policy::clip ? "clip" : "reject";
}

void clip_lengths(std::int64_t& prompt, std::int64_t& output, std::int64_t limit) {
  const std::int64_t total = prompt + output;
  if (limit < 2 || total <= limit)
    throw InvariantError(fmt::format("clip_lengths({} + {}, {}): nothing to clip", prompt, output, limit));
  // 128-bit product: prompt * limit can exceed 2^63 for absurd trace values.
  const auto scaled = static_cast<std::int64_t>(static_cast<__int128>(prompt) * limit / total);
  prompt = std::clamp<std::int64_t>(scaled, 1, limit - 1);
  output = limit - prompt;
}

OverLength::Outcome OverLength::apply(Request& r) const {
  Outcome out;
  out.original_prompt_tokens = r.prompt_tokens;
  out.original_output_tokens = r.output_tokens;
  const std::int64_t total = r.prompt_tokens + r.output_tokens;
  if (policy_ == Policy::reject || total <= max_model_len_) return out;
  if (policy_ == Policy::drop) {
    out.dropped = true;
    out.reason = fmt::format("exceeds_max_model_len: prompt + output = {} tokens > max_model_len {}", total, max_model_len_);
    return out;
  }
  clip_lengths(r.prompt_tokens, r.output_tokens, max_model_len_);
  out.clipped = true;
  return out;
}

}  // namespace hetsim::serving
