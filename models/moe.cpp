#include "models/moe.hpp"

#include <algorithm>
#include <cmath>

namespace hetsim::models {

std::int64_t MoeSpec::linear_parameters(std::int64_t hidden) const {
  const std::int64_t routed = experts * expert_parameters(hidden);
  const std::int64_t shared = shared_experts * 3 * hidden * shared_intermediate;
  return routed + shared;  // the router stays unquantized (vLLM's gate is a plain ReplicatedLinear)
}

std::int64_t MoeSpec::mlp_parameters(std::int64_t hidden, bool active_only) const {
  const std::int64_t used = active_only ? experts_per_token : experts;
  const std::int64_t router = experts * hidden + (score_bias ? experts : 0);
  return used * expert_parameters(hidden) + shared_experts * 3 * hidden * shared_intermediate + router;
}

double balanced_tokens_per_expert(const MoeSpec& moe, double tokens) {
  return tokens * static_cast<double>(moe.experts_per_token) / static_cast<double>(moe.experts);
}

double balanced_experts_touched(const MoeSpec& moe, double tokens) {
  const double e = static_cast<double>(moe.experts);
  const double pick = static_cast<double>(moe.experts_per_token) / e;  // chance one token picks a given expert
  if (pick >= 1) return e;
  // 1 - (1 - k/E)^T through expm1/log1p, accurate when k/E is small.
  return e * -std::expm1(tokens * std::log1p(-pick));
}

ExpertRankLoad busiest_expert_rank(const MoeSpec& moe, double tokens, int ep) {
  const double k = static_cast<double>(moe.experts_per_token);
  // One copy of an expert with `share` of the routed rows, taking `fraction` of its tokens: a
  // token uses it with probability min(1, k share) x fraction.
  auto add = [&](ExpertRankLoad& r, double share, double fraction) {
    const double pick = std::min(1.0, k * share) * fraction;
    r.rows += tokens * k * share * fraction;
    r.touched += pick >= 1 ? 1.0 : -std::expm1(tokens * std::log1p(-pick));
  };
  // The step waits for the slowest rank, and a rank's time is about the larger of its compute
  // (rows) and its weight reads (experts touched): the maxima over ranks of each bound it.
  ExpertRankLoad busiest;
  auto keep = [&](const ExpertRankLoad& r) {
    busiest.rows = std::max(busiest.rows, r.rows);
    busiest.touched = std::max(busiest.touched, r.touched);
  };
  if (const ExpertSlots* placed = moe.placement(ep)) {
    const double balanced = 1 / static_cast<double>(moe.experts);
    for (const auto& slots : placed->rank_slots) {
      ExpertRankLoad r;
      for (const ExpertSlots::Slot& slot : slots)
        add(r, moe.expert_share.empty() ? balanced : moe.expert_share[static_cast<std::size_t>(slot.expert)], slot.fraction);
      keep(r);
    }
    return busiest;
  }
  if (moe.expert_share.empty()) {
    // Balanced: every rank alike.
    if (ep <= 1) return {tokens * k, balanced_experts_touched(moe, tokens)};
    return {tokens * k / ep, balanced_experts_touched(moe, tokens) / ep};
  }
  // vLLM's linear placement: E / ep consecutive experts per rank.
  const std::size_t per_rank = static_cast<std::size_t>(moe.experts / std::max(1, ep));
  for (std::size_t first = 0; first < moe.expert_share.size(); first += per_rank) {
    ExpertRankLoad r;
    for (std::size_t e = first; e < first + per_rank && e < moe.expert_share.size(); ++e) add(r, moe.expert_share[e], 1.0);
    keep(r);
  }
  return busiest;
}

MoeSpec parse_moe(const config::Node& node, const std::string& model_type, std::int64_t intermediate_size,
                  std::int64_t layers) {
  MoeSpec moe;
  // Each family names the same quantities differently (transformers' MixtralConfig,
  // Qwen3MoeConfig, DeepseekV3Config).
  if (model_type == "mixtral") {
    moe.experts = node.get<std::int64_t>("num_local_experts").default_to(8).in_range(1, 1 << 16);
    moe.intermediate = intermediate_size;  // every MLP is an MoE of intermediate_size-wide experts
  } else if (model_type == "qwen3_moe") {
    moe.experts = node.get<std::int64_t>("num_experts").default_to(128).in_range(1, 1 << 16);
    moe.intermediate = node.get<std::int64_t>("moe_intermediate_size").default_to(768).in_range(1, 1 << 22);
    // Qwen3MoE can interleave dense layers; every released checkpoint uses an MoE in every layer.
    node.get<std::int64_t>("decoder_sparse_step").default_to(1).one_of({1}).value();
  } else if (model_type == "deepseek_v3") {
    moe.experts = node.get<std::int64_t>("n_routed_experts").default_to(256).in_range(1, 1 << 16);
    moe.intermediate = node.get<std::int64_t>("moe_intermediate_size").default_to(2048).in_range(1, 1 << 22);
    moe.shared_experts = node.get<std::int64_t>("n_shared_experts").default_to(1).in_range(0, 64);
    moe.shared_intermediate = moe.intermediate;  // DeepseekV3MoE: shared experts of moe_intermediate_size each
    moe.dense_layers = node.get<std::int64_t>("first_k_dense_replace").default_to(3).in_range(0, layers - 1);
    node.get<std::int64_t>("moe_layer_freq").default_to(1).one_of({1}).value();
    // noaux_tc: DeepSeek-V3's auxiliary-loss-free balancing adds a learned bias per expert.
    moe.score_bias = node.get<std::string>("topk_method").default_to("noaux_tc").one_of({"noaux_tc", "greedy"}).value() ==
                     "noaux_tc";
    moe.groups = node.get<std::int64_t>("n_group").default_to(8).in_range(1, moe.experts);
    moe.groups_per_token = node.get<std::int64_t>("topk_group").default_to(4).in_range(1, moe.groups);
    if (moe.experts % moe.groups != 0)
      node.fail_key("n_group", std::to_string(moe.groups),
                    fmt::format("expected a divisor of n_routed_experts ({})", moe.experts));
  } else {
    return moe;
  }
  moe.experts_per_token = node.get<std::int64_t>("num_experts_per_tok").in_range(1, moe.experts);
  return moe;
}

}  // namespace hetsim::models
