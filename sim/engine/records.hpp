#pragma once
// Plain result records kept in memory during a run (one per request, one per replica).
#include <cstdint>
#include <string>

namespace hetsim::sim {

enum class RequestStatus : std::uint8_t { pending, completed, rejected };

struct RequestRecord {
  std::int64_t id = 0;
  double arrival = 0;
  double first_scheduled = -1;
  double first_token = -1;
  double completion = -1;
  std::int64_t prompt_tokens = 0;
  std::int64_t output_tokens = 0;
  int replica = -1;
  int preemptions = 0;
  RequestStatus status = RequestStatus::pending;
  std::string reason;  ///< why it was rejected

  double ttft() const { return first_token - arrival; }
  double e2e() const { return completion - arrival; }
  /// Mean time per output token after the first; only defined for output_tokens > 1.
  double tpot() const { return (completion - first_token) / static_cast<double>(output_tokens - 1); }
};

struct ReplicaRecord {
  std::string device;
  int tensor_parallel = 1;
  std::int64_t steps = 0;
  double busy_time = 0;            ///< seconds spent in steps
  double kv_block_seconds = 0;     ///< integral of blocks in use over step time
  std::int64_t kv_blocks_total = 0;
  std::int64_t kv_blocks_peak = 0;
  std::int64_t completed = 0;
  std::int64_t preemptions = 0;
  std::int64_t prefill_tokens = 0;
  std::int64_t decode_tokens = 0;
  std::int64_t swap_out_tokens = 0;
  std::int64_t swap_in_tokens = 0;
  double transfer_time = 0;        ///< seconds of steps spent waiting for KV copies
};

}  // namespace hetsim::sim
