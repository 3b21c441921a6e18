// In-memory checkpoint replicas (Gemini, Wang et al., SOSP'23): each device's shard is snapshotted
// into its node's host memory (training waits for that), then copied over the NICs into the host
// memory of a peer node (the next node, a ring of placements), in the background. A restart after
// a node failure reads the shard back from the peer's memory instead of remote storage. A peer
// failing at the same time (which Gemini covers with more replicas or remote storage) is not
// modelled.
#include "sim/core/registry.hpp"
#include "sim/training/checkpoint.hpp"

namespace hetsim::policies {
namespace {

using training::CheckpointPlace;

class InMemoryCheckpoint final : public training::CheckpointPolicy {
 public:
  explicit InMemoryCheckpoint(const config::Node& cfg) : CheckpointPolicy(cfg) {}
  std::vector<training::CheckpointCopy> copies() const override {
    return {{CheckpointPlace::device, CheckpointPlace::host, true}, {CheckpointPlace::host, CheckpointPlace::peer_host, false}};
  }
};

}  // namespace
HETSIM_REGISTER(training::CheckpointPolicy, InMemoryCheckpoint, "in_memory",
                "Gemini: snapshot to host memory, replica in a peer node's memory over the network");
}  // namespace hetsim::policies
