#pragma once
// Expert offload with a GPU expert cache (serving.expert_offload; Mixtral-offloading, MoE-Lightning,
// HOBBIT, Fiddler's GPU path): the routed experts live in host memory and each GPU keeps
// `cached_experts` of them per MoE layer, the ones the gating policy sends the most tokens (an
// ideal frequency cache). A step's router decides, layer by layer, which experts its tokens need;
// every needed expert that is not cached is copied over the GPU's host link before its GEMM runs,
// and is dropped after (the cache holds its set). Per MoE layer a rank of a degree-tp instance
// loads its 1/tp slice of each missed expert:
//   bytes = sum over uncached e of (1 - (1 - min(1, k share_e))^T) x 3 h w x bytes / tp
// (T tokens, k experts per token, width w), in bytes / bandwidth + latency, serial with the layer.
#include <cstdint>
#include <string>
#include <vector>

#include "hw/device.hpp"
#include "models/model.hpp"

namespace hetsim::serving {

struct ExpertOffload {
  std::int64_t cached = 0;      ///< routed experts per MoE layer kept on the GPU
  std::vector<bool> is_cached;  ///< [expert]
  hw::LinkSpec link;            ///< host -> GPU, per GPU
  std::string link_source;      ///< where `link` comes from (for messages)
};

/// The `cached` experts with the largest shares of the routed rows (balanced: the first ones).
std::vector<bool> hottest_experts(const models::MoeSpec& moe, std::int64_t cached);
/// Bytes one rank loads per MoE layer for a step of `tokens` tokens (formula above).
double expert_load_bytes(const models::ModelSpec& model, const ExpertOffload& offload, double tokens, int tp);
/// Seconds of those loads over all MoE layers of the step: per layer bytes / bandwidth + latency.
double expert_load_time(const models::ModelSpec& model, const ExpertOffload& offload, double tokens, int tp);
/// Bytes of routed expert weights per device that stay in host memory (the uncached experts, all MoE layers).
double host_expert_bytes(const models::ModelSpec& model, const ExpertOffload& offload, int tp);

}  // namespace hetsim::serving
