#pragma once
// What a trace replay produces (sim/engine/trace_replay_engine), as plain data for the writers
// (sim/metrics/replay_results): per-rank time split, every collective's span, optional timeline.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "sim/core/op.hpp"

namespace hetsim::sim {

/// One rank over the whole replay (all iterations), seconds.
struct ReplayRankRecord {
  int rank = 0;
  std::string trace;       ///< the file it replayed (a mirrored rank names its source's)
  double compute = 0;      ///< busy on the compute stream
  double comm = 0;         ///< some collective or message of this rank in flight (posted until done, waits for peers included)
  double exposed_comm = 0; ///< comm time not overlapped by compute
  double idle = 0;         ///< neither computing nor communicating, up to the replay's end
  double end = 0;          ///< when the rank's last op finished
  std::size_t ops = 0, collectives = 0, p2p = 0;
  double collective_bytes = 0, p2p_bytes = 0;  ///< bytes this rank contributed (payload per rank; messages it sent)
};

/// One matched collective: (group, sequence number in that group on every member).
struct ReplayCollectiveRecord {
  std::string group;
  std::size_t seq = 0;
  Collective kind = Collective::none;
  double bytes = 0;  ///< payload per member
  int members = 0;
  double start = 0;  ///< the last member arrived
  double end = 0;
};

/// A timeline span: one op on one track of a rank.
struct ReplaySpan {
  int rank = 0;
  int track = 0;  ///< the op's stream, or kComputeTrack / kCommTrack when it has none
  std::string name;
  double start = 0, end = 0;
  static constexpr int kComputeTrack = -1;
  static constexpr int kCommTrack = -2;
};

struct ReplayRecords {
  int iterations = 1;
  double makespan = 0;  ///< simulated time from the first op to the last, all iterations
  std::vector<ReplayRankRecord> ranks;
  std::vector<ReplayCollectiveRecord> collectives;
  std::vector<ReplaySpan> spans;
  std::size_t flows = 0;  ///< network flows started (ring steps, messages)
};

}  // namespace hetsim::sim
