#include "sim/training/stage_costs.hpp"

#include <algorithm>
#include <string>
#include <string_view>

#include "models/graph_builder.hpp"

namespace hetsim::training {
namespace {

/// ZeRO-3's parameter gathers (the dense builder names them zero3_param_all_gather[_bwd]).
bool is_zero3_gather(const Op& op) { return std::string_view(op.name).starts_with("zero3_"); }
/// The context-parallel K/V exchanges (cp_kv_all_gather and its backward and recompute twins).
bool is_cp_ring(const Op& op) { return std::string_view(op.name).starts_with("cp_"); }

/// Which parallel group a collective of the dense builder spans, by its name: ZeRO-3 parameter
/// gathers the data-parallel group, context-parallel K/V exchanges the context-parallel group,
/// everything else (TP all-reduce, SP gather/scatter, the vocab-parallel loss) the tensor group.
int nodes_of(const Op& op, const ParallelPlan& p, int slots) {
  const std::string_view name = op.name;
  if (is_zero3_gather(op)) return group_nodes(p.weight_replicas(), p.tp, slots);
  if (is_cp_ring(op)) return group_nodes(p.cp, p.tp, slots);
  // The MoE dispatch and combine all-to-alls span the expert-parallel group and the expert-TP
  // gathers and reductions the expert-TP group: Megatron-Core's expert ranks fold the stage's
  // tp x cp x dp ranks in the order etp, ep, edp, so etp consecutive ranks, and ep ranks etp apart.
  if (name.starts_with("moe_etp_")) return group_nodes(p.expert_tp(), 1, slots);
  if (name.starts_with("moe_")) return group_nodes(p.ep, p.expert_tp(), slots);
  return group_nodes(p.tp, 1, slots);
}

/// The op a collective of the dense builder is pipelined with when it overlaps, by base name: a
/// tensor-parallel all-gather feeds its column-parallel GEMM and a reduction follows its
/// row-parallel one (Megatron's --tp-comm-overlap). Backward and recompute ops carry the same suffix
/// as their partner. "" when the collective overlaps nothing.
std::string_view overlap_partner(std::string_view base, bool gated_mlp) {
  if (base == "attn_sp_all_gather") return {"qkv_proj"};
  if (base == "attn_tp_reduce") return {"o_proj"};
  if (base == "mlp_sp_all_gather") return {gated_mlp ? "gate_up_proj" : "fc1"};
  if (base == "mlp_tp_reduce") return {gated_mlp ? "down_proj" : "fc2"};
  return {};
}

/// Time saved by pipelining overlapping tensor-parallel collectives of a pass with their partner ops
/// in tp chunks when `tp_comm`: a pair takes max(c, g) + min(c, g) / chunks instead of c + g. (The
/// context-parallel ring's overlap is the pass's: PassCost::cp_hidden.)
double overlap_saving(const std::vector<Op>& ops, const std::vector<double>& times, const std::vector<char>& kept,
                      const ParallelPlan& p, bool tp_comm, bool gated_mlp) {
  double saving = 0;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (!kept[i] || ops[i].cls != OpClass::collective) continue;
    const std::string_view name = ops[i].name;
    for (std::string_view suffix : {"_dgrad", "_recompute", ""}) {
      if (!name.ends_with(suffix)) continue;
      const std::string_view partner = overlap_partner(name.substr(0, name.size() - suffix.size()), gated_mlp);
      const int chunks = tp_comm ? p.tp : 1;
      if (partner.empty() || chunks <= 1) break;
      const std::string wanted = std::string(partner) + std::string(suffix);
      for (std::size_t j = 0; j < ops.size(); ++j)
        if (kept[j] && ops[j].name == wanted) {
          saving += std::min(times[i], times[j]) * (1 - 1.0 / chunks);
          break;
        }
      break;
    }
  }
  return saving;
}

/// How a pass's communication overlaps its compute.
struct PassOverlap {
  bool prefetch = false;  ///< ZeRO-3 gathers prefetched (Overlap::param_gather)
  bool tp_comm = false;   ///< Overlap::tp_comm
  bool gated_mlp = true;
  bool ep_comm = false;   ///< Overlap::ep_comm
};

/// Prices `ops` into `into`; `keep` selects which ops belong to this pass. With `prefetch`, ZeRO-3's
/// per-layer parameter gathers run on their own stream ahead of the layers that need them (FSDP's
/// prefetch, DeepSpeed's): only the first layer's gather, or what exceeds the pass's other work,
/// is exposed.
template <class Keep>
void price(std::vector<Op>& ops, const ParallelPlan& p, const hw::CostModel& cost, int slots, const PassOverlap& overlap,
           double layers, PassCost& into, Keep keep) {
  double gathers = 0;
  PassCost pass;
  std::vector<double> times(ops.size(), 0);
  std::vector<char> kept(ops.size(), 0);
  for (std::size_t i = 0; i < ops.size(); ++i) {
    Op& op = ops[i];
    if (!keep(op)) continue;
    if (op.cls == OpClass::collective) op.group_nodes = nodes_of(op, p, slots);
    const double t = cost.time(op);
    if (overlap.prefetch && is_zero3_gather(op)) {
      gathers += t;
      continue;
    }
    times[i] = t;
    kept[i] = 1;
    pass.seconds += t;
    if (op.cls == OpClass::collective) pass.comm += t;
    if (op.cls == OpClass::collective && std::string_view(op.name).starts_with("moe_")) pass.ep_comm += t;
    else pass.flops += op.flops * op.repeat;
    if (is_cp_ring(op)) pass.cp_ring += t;
    if (op.cls == OpClass::attention_prefill) {
      pass.attention += t;
      pass.attention_flops += op.flops * op.repeat;
    }
  }
  // The ring steps of ring attention run under its attention blocks (Megatron's CP always overlaps).
  pass.cp = p.cp;
  const double cp_hidden = pass.cp_hidden(pass.attention);
  const double saving = overlap_saving(ops, times, kept, p, overlap.tp_comm, overlap.gated_mlp) + cp_hidden;
  pass.seconds -= saving;
  pass.comm -= saving;
  pass.cp_comm = pass.cp_ring - cp_hidden;
  if (overlap.ep_comm) {
    // The MoE all-to-alls of this pass run under the compute of another micro-batch's pass paired
    // with it (DualPipe, Megatron-Core's overlap_moe_expert_parallel_comm): the pass exposes only
    // what exceeds its compute, max(compute, all-to-all) instead of their sum.
    const double hidden = std::min(pass.ep_comm, std::max(0.0, pass.seconds - pass.comm));
    pass.seconds -= hidden;
    pass.comm -= hidden;
    pass.ep_comm -= hidden;
  }
  const double exposed = gathers > 0 ? std::max(gathers / std::max(1.0, layers), gathers - pass.seconds) : 0;
  pass.seconds += exposed;
  pass.comm += exposed;
  into += pass;
}

bool is_weight_gradient(const Op& op) { return std::string_view(op.name).ends_with("_wgrad"); }

}  // namespace

int group_nodes(int size, int stride, int slots) {
  if (size <= 1) return 1;
  const long span = static_cast<long>(size) * stride;  // ranks from the first member to past the last
  if (span <= slots) return 1;
  // Members stride apart: a node holds slots / stride of them when stride < slots, else one.
  if (stride >= slots) return size;
  return static_cast<int>((span + slots - 1) / slots);
}

std::vector<StageCost> price_stages(const models::ModelSpec& m, const TrainingJob& job, const hw::CostModel& cost,
                                    int slots) {
  const auto& builder = models::builder_for(m);
  const ParallelPlan& p = job.plan;
  std::vector<StageCost> stages;
  std::vector<Op> ops;
  const double stored = m.weight_bytes() / static_cast<double>(m.parameters());
  for (int k = 0; k < job.model_stages(); ++k) {
    const models::TrainingShape shape = job.shape(k);
    StageCost s;
    s.layers = static_cast<double>(shape.layers);
    s.parameters = models::stage_parameters(m, p, shape);
    const PassOverlap overlap{job.overlap.param_gather, job.overlap.tp_comm, m.gated_mlp, job.overlap.ep_comm};
    builder.training_forward(m, shape, p, ops);
    price(ops, p, cost, slots, overlap, s.layers, s.forward, [](const Op&) { return true; });
    builder.training_backward(m, shape, p, ops);
    price(ops, p, cost, slots, overlap, s.layers, s.backward_input, [](const Op& op) { return !is_weight_gradient(op); });
    price(ops, p, cost, slots, overlap, s.layers, s.backward_weight, is_weight_gradient);
    models::TrainingShape full = shape;
    full.recompute = models::TrainingShape::Recompute::full;
    full.recompute_layers = -1;
    builder.training_backward(m, full, p, ops);
    price(ops, p, cost, slots, overlap, s.layers, s.recompute,
          [](const Op& op) { return std::string_view(op.name).ends_with("_recompute"); });
    s.boundary_bytes = static_cast<double>(job.micro_batch * job.seq_len * m.hidden_size) *
                       bytes_per_element(m.precision.activations) / (p.tp * p.cp);
    s.grad_bytes = s.parameters * bytes_per_element(job.grad_dtype);
    s.param_bytes = s.parameters * stored;
    if (p.ep > 1) {
      const double experts = models::stage_expert_parameters(m, p, shape);
      s.expert_grad_bytes = experts * bytes_per_element(job.grad_dtype);
      s.expert_param_bytes = experts * m.precision.weight_bytes_per_element();
    }
    builder.optimizer_step(m, shape, p, ops);
    for (const Op& op : ops) s.optimizer += cost.time(op);
    stages.push_back(s);
  }
  return stages;
}

namespace {
/// The attention core's width per token and layer in Megatron's count, 4 x s x width FLOPs per token
/// forward (scores and values, each head's q/k and v widths; MLA's num_floating_point_operations
/// uses qk_head_dim + v_head_dim per head): heads x head_dim for MHA/GQA.
double attention_width(const models::ModelSpec& m) {
  const auto heads = static_cast<double>(m.num_attention_heads);
  if (m.mla.enabled()) return heads * static_cast<double>(m.mla.qk_head_dim() + m.mla.v_head_dim) / 2;
  return heads * static_cast<double>(m.head_dim);
}
}  // namespace

double megatron_model_flops(const models::ModelSpec& m, std::int64_t sequences, std::int64_t seq_len) {
  const double tokens = static_cast<double>(sequences) * static_cast<double>(seq_len);
  const double L = static_cast<double>(m.num_hidden_layers);
  // MoE layers count the experts a token is routed to (Megatron's num_floating_point_operations:
  // top-k experts' FFNs, and the shared experts), not all of them.
  double linear = static_cast<double>(m.layer_linear_parameters());
  if (m.moe.enabled())
    linear -= static_cast<double>((m.moe.experts - m.moe.experts_per_token) * m.moe.expert_parameters(m.hidden_size)) *
              static_cast<double>(m.moe.moe_layers(m.num_hidden_layers)) / L;
  const double head = static_cast<double>(m.vocab_size * m.hidden_size);
  const double forward = 2 * tokens * (L * linear + head) + 4 * tokens * static_cast<double>(seq_len) * L * attention_width(m);
  return 3 * forward;
}

double megatron_attention_flops(const models::ModelSpec& m, std::int64_t sequences, std::int64_t seq_len) {
  const double tokens = static_cast<double>(sequences) * static_cast<double>(seq_len);
  return 3 * 4 * tokens * static_cast<double>(seq_len) * static_cast<double>(m.num_hidden_layers) * attention_width(m);
}

}  // namespace hetsim::training
