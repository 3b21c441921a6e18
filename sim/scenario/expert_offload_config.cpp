#include "sim/scenario/expert_offload_config.hpp"

#include <fmt/format.h>

namespace hetsim::sim {

std::shared_ptr<const serving::ExpertOffload> parse_expert_offload(const config::Node& serving, const models::ModelSpec& model,
                                                                   const hw::Device& gpu) {
  const auto cfg = serving.maybe("expert_offload");
  if (!cfg) return nullptr;
  if (!model.moe.enabled())
    serving.fail_key("expert_offload", cfg->shown(), fmt::format("{} has no experts (not an MoE model)", model.name));
  auto o = std::make_shared<serving::ExpertOffload>();
  // No default: how many experts fit beside the KV is the deployment's choice.
  o->cached = cfg->get<std::int64_t>("cached_experts").required().in_range(0, model.moe.experts).value();
  if (cfg->has("link")) {
    o->link = hw::parse_link(cfg->child("link"), "pcie");
    o->link_source = "serving.expert_offload.link";
  } else {
    o->link = gpu.host;
    o->link_source = fmt::format("{}'s host link ({})", gpu.name, gpu.host.kind);
  }
  if (o->link.bandwidth <= 0)
    cfg->fail_key("link", o->link_source, "expected a link with a bandwidth to load the experts over");
  o->is_cached = serving::hottest_experts(model.moe, o->cached);
  return o;
}

}  // namespace hetsim::sim
