#include "sim/serving/expert_split.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace hetsim::serving {

bool is_routed_expert_op(const Op& op) { return op.name.starts_with("experts_"); }
bool is_moe_op(const Op& op) {
  return is_routed_expert_op(op) || op.name.starts_with("moe_") || op.name.starts_with("shared_experts_");
}

ExpertRows::ExpertRows(const models::MoeSpec& moe, double tokens) {
  const auto E = static_cast<std::size_t>(moe.experts);
  const double k = static_cast<double>(moe.experts_per_token);
  std::vector<double> pick(E);
  for (std::size_t e = 0; e < E; ++e)
    pick[e] = std::min(1.0, k * (moe.expert_share.empty() ? 1 / static_cast<double>(E) : moe.expert_share[e]));
  order_.resize(E);
  std::iota(order_.begin(), order_.end(), std::size_t{0});
  std::stable_sort(order_.begin(), order_.end(), [&](std::size_t a, std::size_t b) { return pick[a] < pick[b]; });
  rows_.assign(E + 1, 0.0);
  reads_.assign(E + 1, 0.0);
  const double T = std::max(1.0, tokens);
  for (std::size_t i = 0; i < E; ++i) {
    const double p = pick[order_[i]];
    rows_[i + 1] = rows_[i] + T * p;
    reads_[i + 1] = reads_[i] + (p >= 1 ? 1.0 : -std::expm1(T * std::log1p(-p)));
  }
}

Op expert_subset(Op op, double rows, double reads) {
  op.flops *= rows;
  op.activations.bytes *= rows;
  op.weights.bytes *= reads;
  op.units *= reads;
  return op;
}

ExpertSplit split_experts(std::span<const Op> ops, const ExpertRows& rows, std::size_t n,
                          const std::function<double(const Op&)>& gpu_time, const std::function<double(const Op&)>& offload_time) {
  ExpertSplit s;
  s.on_offload = n;
  const double r = rows.row_share(n), w = rows.read_share(n);
  for (const Op& op : ops) {
    // A side with no experts launches nothing.
    if (n > 0) s.offload += offload_time(expert_subset(op, r, w));
    if (n < rows.experts()) s.gpu += gpu_time(expert_subset(op, 1 - r, 1 - w));
  }
  return s;
}

ExpertSplit co_process_experts(std::span<const Op> ops, const ExpertRows& rows, const std::function<double(const Op&)>& gpu_time,
                               const std::function<double(const Op&)>& offload_time) {
  // The PIM's time grows and the GPU's shrinks with n: find the first n where the PIM is the
  // longer side, and keep the better of it and the one before.
  std::size_t lo = 0, hi = rows.experts();
  while (lo < hi) {
    const std::size_t mid = (lo + hi) / 2;
    const ExpertSplit s = split_experts(ops, rows, mid, gpu_time, offload_time);
    if (s.offload >= s.gpu) hi = mid;
    else lo = mid + 1;
  }
  ExpertSplit best = split_experts(ops, rows, lo, gpu_time, offload_time);
  if (lo > 0) {
    const ExpertSplit before = split_experts(ops, rows, lo - 1, gpu_time, offload_time);
    if (before.time() < best.time()) best = before;
  }
  return best;
}

}  // namespace hetsim::serving
