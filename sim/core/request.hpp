#pragma once
// A serving request as the workload describes it: plain data, no behaviour.
#include <cstdint>
#include <vector>

namespace hetsim {

struct Request {
  std::int64_t id = 0;
  double arrival = 0;                   ///< seconds from the start of the run
  std::int64_t prompt_tokens = 0;
  std::int64_t output_tokens = 0;
  std::vector<std::uint32_t> hash_ids;  ///< Mooncake prefix-block ids (512 tokens each); empty if unknown
};

}  // namespace hetsim
