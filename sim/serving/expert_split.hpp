#pragma once
// Routed experts split between a GPU and processing-in-memory that shares its HBM (offload key
// `experts`, Duplex, Yun et al., MICRO 2024, §IV-V): in a decode-only step all routed experts can
// run in Logic-PIM (few tokens per expert: low Op/B), or, co-processed ("Duplex+PE"), the experts
// with the fewest tokens run in Logic-PIM while the GPU runs the rest at the same time. Duplex
// assigns experts from the fewest tokens up while that shortens the layer; with expected rows per
// expert this is the prefix of the experts sorted by rows that minimises max(GPU, PIM).
//
// Expert e of E, picked by a token with probability p_e = min(1, k share_e), gets T p_e rows in a
// step of T tokens and is read with probability 1 - (1 - p_e)^T. A subset S of the experts takes
// rows(S) / rows(all) of the grouped GEMMs' FLOPs and activations, and touched(S) / touched(all) of
// their weight reads (and work units).
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "models/moe.hpp"
#include "sim/core/op.hpp"

namespace hetsim::serving {

/// Whether `op` is one of the routed experts' ops (models/moe_layer.cpp's grouped GEMMs and gating).
bool is_routed_expert_op(const Op& op);
/// Whether `op` belongs to an MoE layer's MLP (router, top-k, routed and shared experts, dispatch and combine).
bool is_moe_op(const Op& op);

/// Expected rows and reads of each expert in a step, and the experts in the order Duplex hands
/// them to the PIM (fewest rows first).
class ExpertRows {
 public:
  ExpertRows(const models::MoeSpec& moe, double tokens);
  std::size_t experts() const { return order_.size(); }
  /// Shares of all rows and of all expert reads that the first `n` experts in the order take.
  double row_share(std::size_t n) const { return rows_[n] / rows_.back(); }
  double read_share(std::size_t n) const { return reads_[n] / reads_.back(); }

 private:
  std::vector<std::size_t> order_;
  std::vector<double> rows_, reads_;  ///< prefix sums over order_, [0] = 0
};

/// `op` scaled to a subset of the experts taking `rows` of the rows and `reads` of the reads.
Op expert_subset(Op op, double rows, double reads);

struct ExpertSplit {
  std::size_t on_offload = 0;  ///< experts (fewest rows first) on the PIM
  double gpu = 0;              ///< seconds of the GPU's share, all MoE layers
  double offload = 0;          ///< seconds of the PIM's share
  double time() const { return gpu > offload ? gpu : offload; }
};

/// The co-processed split of `ops` (a step's routed expert ops on one rank) minimising max(GPU,
/// PIM): `gpu_time` and `offload_time` price an op on each side.
ExpertSplit co_process_experts(std::span<const Op> ops, const ExpertRows& rows, const std::function<double(const Op&)>& gpu_time,
                               const std::function<double(const Op&)>& offload_time);
/// The first `n` experts (fewest rows first) on the PIM, the rest on the GPU.
ExpertSplit split_experts(std::span<const Op> ops, const ExpertRows& rows, std::size_t n,
                          const std::function<double(const Op&)>& gpu_time, const std::function<double(const Op&)>& offload_time);

}  // namespace hetsim::serving
