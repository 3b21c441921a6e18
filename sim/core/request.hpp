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
  // Content identity, for prefix caching: hash_ids[j] names the content of prompt tokens
  // [j * hash_block_tokens, (j + 1) * hash_block_tokens), so equal ids at equal positions mean
  // equal tokens (the Mooncake traces' convention, with 512-token blocks). The ids describe the
  // first `hash_tokens` tokens only; the rest of the prompt is the request's own.
  std::vector<std::uint64_t> hash_ids;  ///< empty: no content identity (nothing can be reused)
  std::int32_t hash_block_tokens = 512;
  std::int64_t hash_tokens = 0;         ///< tokens the ids describe (<= ids x block tokens); past the
                                        ///< prompt they describe its output (a conversation's next turn
                                        ///< holds them)
  // Multi-turn sessions (workload/sessions.hpp): turn `turn` of conversation `session`, sent
  // `think` seconds after the previous turn ended; -1 outside sessions.
  std::int64_t session = -1;
  std::int32_t turn = 0;
  double think = 0;
  // Who sent it (workload.tenants): fairness schedulers serve tenants; -1 without tenants.
  std::int32_t tenant = -1;
  std::int32_t priority = 0;  ///< its tenant's priority class: higher is served first
};

}  // namespace hetsim
