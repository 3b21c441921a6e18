#include "sim/training/activation_offload.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "sim/core/error.hpp"
#include "sim/core/units.hpp"

namespace hetsim::training {

ActivationOffloadPolicy::ActivationOffloadPolicy(const config::Node& cfg) {
  if (cfg.has("fraction") && !(cfg.child("fraction").is_scalar() && cfg.child("fraction").scalar() == "auto"))
    fraction_ = cfg.get<double>("fraction").in_range(0.0, 1.0).value();
  if (cfg.has("host_limit")) host_limit_ = cfg.quantity("host_limit", units::Dim::bytes).positive().value();
}

double auto_fraction(const ActivationOffloadPolicy& policy, const LayerActivationParts& parts, double tokens,
                     double layer_forward, double rate, double held_layers, double devices_per_node, double host_room) {
  const double at0 = policy.shape(parts, 0).host_bytes_per_token, at1 = policy.shape(parts, 1).host_bytes_per_token;
  const double per_share = at1 - at0;  // host bytes per token per unit of share (the shapes are linear in it)
  const double host_per_token = held_layers * tokens * devices_per_node;
  if (at0 * host_per_token > host_room)
    throw InputError(fmt::format("the activations that always go to host take {:.1f} GiB per node, more than the {:.1f} "
                                 "GiB of host memory left", at0 * host_per_token / (1 << 30), host_room / (1 << 30)));
  if (!(per_share > 0)) return 1;
  // The copy of one layer hidden under its forward; the host bytes within the room.
  const double by_link = (rate * layer_forward / tokens - at0) / per_share;
  const double by_host = (host_room / host_per_token - at0) / per_share;
  return std::clamp(std::min(by_link, by_host), 0.0, 1.0);
}

PassCost swap_recompute(const PassCost& recompute, const SwapShape& shape) {
  // The in-pass collectives belong to the non-attention part (the SP gathers and TP reductions
  // around the GEMMs; a context-parallel K/V exchange is counted there too, a conservative choice).
  PassCost extra;
  const double linear = recompute.seconds - recompute.attention;
  extra.seconds = shape.recompute_linear * linear + shape.recompute_attention * recompute.attention;
  extra.comm = shape.recompute_linear * recompute.comm;
  extra.ep_comm = shape.recompute_linear * recompute.ep_comm;
  extra.cp_comm = shape.recompute_linear * recompute.cp_comm;
  extra.flops = shape.recompute_linear * (recompute.flops - recompute.attention_flops) +
                shape.recompute_attention * recompute.attention_flops;
  extra.attention = shape.recompute_attention * recompute.attention;
  extra.attention_flops = shape.recompute_attention * recompute.attention_flops;
  return extra;
}

}  // namespace hetsim::training
