#include "sim/scenario/run_description.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace hetsim::sim {

namespace {
/// Where an offloading instance's KV budget lives, for the memory line; empty: on its GPUs, as without offload.
std::string kv_device(const serving::OffloadPlan* o) {
  if (!o || o->in_gpu_memory) return "";
  // A layer range split sizes the GPU's layers' KV on the GPU (the host's memory capping it), unless the GPU has none.
  if (o->layers) return o->layers->gpu_layers > 0 ? "" : fmt::format("{} (every layer on the host)", o->device->name);
  return fmt::format("{} x {} (offload){}", o->count, o->device->name, o->gpu_kv ? " and the GPUs" : "");
}
}  // namespace

RunInfo describe_run(const Scenario& sc) {
  RunInfo info;
  info.scenario = sc.name;
  info.file = sc.file;
  info.model = sc.model.name;
  if (!sc.model.precision.uniform()) info.precision = sc.model.precision.describe();
  info.fleet = describe_fleet(sc);
  info.seed = sc.seed;
  info.requests = sc.totals.requests;
  info.clients = sc.arrivals ? sc.arrivals->clients() : 0;
  bool moves_kv = false, caches_prefixes = false, offloads = false, hands_off = false;
  for (const auto& r : sc.replicas) {
    RunInfo::Instance in;
    in.pool = r.pool;
    in.device = r.device->name;
    in.device_kind = r.device->kind_name;
    in.role = std::string(serving::to_string(r.role));
    hands_off = hands_off || r.role != serving::InstanceRole::both;
    in.tensor_parallel = r.parallel.tp * r.parallel.dp;  // the instance's devices
    in.device_share = r.device_share;
    in.kv_blocks_total = r.kv->total_blocks();
    in.kv_bytes_per_token = r.kv_bytes_per_token;
    in.cost_per_hour = r.device->cost_per_hour;
    // Offload devices are paid for with the instance: their cost spread over its GPUs (unknown if theirs is).
    if (r.offload)
      in.cost_per_hour = r.offload->cost_per_hour > 0 ? in.cost_per_hour + r.offload->cost_per_hour / in.tensor_parallel : 0;
    // As the replica prices it: the stack's attention kernels in place.
    in.cost_model_source = fmt::format("{}; serving stack {}", hw::describe_sources(r.stack->apply(*r.device)), r.stack->name);
    if (r.offload) {
      in.cost_model_source += fmt::format("; offload {}: {}", r.offload->device->name, hw::describe_sources(*r.offload->device));
      // What each GPU reaches the offload side over (nothing for PIM in the GPUs' own memory).
      if (!r.offload->in_gpu_memory)
        in.cost_model_source += fmt::format(
            "; offload link: {} ({}, {:.3g} us{})", r.offload->link_source,
            r.offload->back_bandwidth > 0 && r.offload->back_bandwidth != r.offload->link.bandwidth
                ? fmt::format("{:.4g} GB/s out, {:.4g} GB/s back", r.offload->link.bandwidth / 1e9, r.offload->back_bandwidth / 1e9)
                : fmt::format("{:.4g} GB/s", r.offload->link.bandwidth / 1e9),
            r.offload->link.latency * 1e6, r.offload->on_platform ? " when idle, contended" : "");
    }
    const policies::KvMemory& m = r.kv->memory();
    in.memory = {.usable = m.usable, .usable_source = r.device->usable_memory_source,
                 .kv_device = kv_device(r.offload.get()),
                 .kv_also_on_gpus = r.offload && r.offload->gpu_kv,
                 .kv_link = r.offload && !r.offload->in_gpu_memory ? r.offload->link_source : "",
                 .kv_link_bandwidth = r.offload ? r.offload->link.bandwidth : 0,
                 .kv_link_back_bandwidth = r.offload ? r.offload->bandwidth_back() : 0,
                 .kv_link_latency = r.offload ? r.offload->link.latency : 0,
                 .kv_link_contended = r.offload && r.offload->on_platform,
                 .kv_ranks = r.parallel.dp,
                 .utilization = m.utilization,
                 .weights = m.weights, .activation = m.activation, .activation_given = m.activation_given,
                 .non_torch = m.non_torch, .graphs = m.graphs, .kv = m.kv, .kv_given = m.kv_given,
                 .kv_blocks = m.blocks, .block_size = m.block_size};
    info.instances.push_back(std::move(in));
    moves_kv = moves_kv || r.kv->store().tiers() > 1;  // a policy keeps KV in another tier
    caches_prefixes = caches_prefixes || r.kv->caches_prefixes();
    offloads = offloads || !r.kv->kv_tiers().empty();
  }
  if (moves_kv) info.features.push_back("kv_swap");
  // Instances of split roles move sequences with their KV between them (P/D disaggregation).
  if (hands_off) info.features.push_back("kv_handoff");
  if (std::any_of(sc.controllers.begin(), sc.controllers.end(), [](const auto& c) { return c->migrates(); }))
    info.features.push_back("migration");
  if (std::any_of(sc.controllers.begin(), sc.controllers.end(), [](const auto& c) { return c->scales(); }))
    info.features.push_back("scaling");
  if (std::any_of(sc.replicas.begin(), sc.replicas.end(), [](const ReplicaPlan& r) { return r.speculation != nullptr; }))
    info.features.push_back("speculative");
  if (std::any_of(sc.replicas.begin(), sc.replicas.end(), [](const ReplicaPlan& r) { return r.offload != nullptr; }))
    info.features.push_back("offload");
  // A layer range split that may copy host weights to the GPU.
  if (std::any_of(sc.replicas.begin(), sc.replicas.end(),
                  [](const ReplicaPlan& r) { return r.offload && r.offload->layers && r.offload->layers->may_stream(); }))
    info.features.push_back("weight_streaming");
  if (caches_prefixes) info.features.push_back("prefix_cache");
  if (offloads) info.features.push_back("kv_offload");
  if (sc.slo.any()) info.features.push_back("slo");
  if (sc.arrivals && sc.arrivals->sessions()) info.features.push_back("sessions");
  if (sc.arrivals && sc.arrivals->tenants()) info.features.push_back("tenants");
  if (!info.precision.empty()) info.features.push_back("mixed_precision");
  if (info.clients > 0) info.features.push_back("closed_loop");
  if (sc.over_length.policy() == serving::OverLength::Policy::drop) info.features.push_back("over_length_drop");
  if (sc.over_length.policy() == serving::OverLength::Policy::clip) info.features.push_back("over_length_clip");
  if (sc.output.step_detail) info.features.push_back("step_detail");
  info.slo = sc.slo;
  info.output = sc.output;
  YAML::Emitter emitter;
  emitter << sc.resolved;
  info.resolved_yaml = emitter.c_str();
  return info;
}

TrainingRunInfo describe_training_run(const TrainingScenario& sc) {
  TrainingRunInfo info;
  info.scenario = sc.name;
  info.file = sc.file;
  info.model = sc.model.name;
  info.cluster = sc.describe();
  info.device = sc.device->name;
  info.schedule = sc.schedule_name;
  const auto recompute = sc.job.recompute;
  info.recompute = recompute == models::TrainingShape::Recompute::full        ? "full"
                   : recompute == models::TrainingShape::Recompute::selective ? "selective"
                                                                                : "none";
  if (recompute == models::TrainingShape::Recompute::selective &&
      sc.job.recompute_modules != models::RecomputeModule::core_attn)
    info.recompute += " (" + models::recompute_module_names(sc.job.recompute_modules) + ")";
  info.seed = sc.seed;
  info.gpus = sc.gpus();
  if (sc.checkpoint) {
    info.checkpoint = sc.checkpoint_name;
    const auto copies = sc.checkpoint->copies();
    for (const auto& c : copies)
      info.checkpoint += fmt::format("{}{} to {}{}", &c == &copies.front() ? " (" : ", then ",
                                     training::to_string(c.from), training::to_string(c.to),
                                     c.blocking ? "" : c.lazy ? " under the next iteration" : " in the background");
    info.checkpoint += ")";
  }
  if (sc.offload) {
    const training::OffloadSetup& o = *sc.offload;
    TrainingRunInfo::Offload r;
    r.policy = o.name;
    r.states_in = training::to_string(o.policy->states_place());
    r.placement = training::to_string(o.policy->placement());
    r.gpu_fraction = o.policy->gpu_fraction();
    for (const auto& m : sc.memory) {
      r.states_per_gpu = std::max(r.states_per_gpu, m.offloaded_states);
      r.weights_per_gpu = std::max(r.weights_per_gpu, m.offloaded_weights);
    }
    r.params_in = training::to_string(o.policy->params());
    r.host_bytes = o.host_bytes;
    r.host_dram = o.host_dram;
    r.host_cxl = o.host_cxl;
    r.host_capacity = o.host_capacity;
    r.cxl_share = o.cxl_share;
    r.nvme_bytes = o.nvme_bytes;
    r.nvme_capacity = o.nvme_capacity;
    for (double c : o.cpu_seconds) r.cpu_update = std::max(r.cpu_update, c * (1 - r.gpu_fraction));
    r.needed = o.needed;
    for (std::size_t s = 0; s < o.without.size(); ++s)
      if (o.without[s].total() > r.peak_without) {
        r.peak_without = o.without[s].total();
        r.stage_without = static_cast<int>(s);
      }
    info.offload = r;
  }
  if (sc.swap) {
    const training::ActivationSwapSetup& o = *sc.swap;
    TrainingRunInfo::Swap r;
    r.policy = o.name;
    r.fraction = o.fraction;
    r.automatic = o.automatic;
    r.bytes_per_pass = *std::max_element(o.bytes.begin(), o.bytes.end());
    for (const auto& m : sc.memory) r.swapped_per_gpu = std::max(r.swapped_per_gpu, m.swapped_activations);
    r.host_bytes = o.host_bytes;
    r.host_capacity = o.host_capacity;
    r.rate = o.rate;
    r.recompute_linear = o.shape.recompute_linear;
    r.recompute_attention = o.shape.recompute_attention;
    for (std::size_t s = 0; s < o.without.size(); ++s) {
      r.needed |= o.without[s].total() > sc.device_memory;
      if (o.without[s].total() > r.peak_without) {
        r.peak_without = o.without[s].total();
        r.stage_without = static_cast<int>(s);
      }
    }
    info.swap = r;
  }
  const ParallelPlan& p = sc.job.plan;
  info.tp = p.tp;
  info.pp = p.pp;
  info.dp = p.dp;
  info.cp = p.cp;
  info.ep = p.ep;
  info.etp = p.expert_tp();
  info.sp = p.sp;
  info.virtual_stages = p.virtual_stages;
  info.zero = p.zero;
  info.seq_len = sc.job.seq_len;
  info.global_batch = sc.job.global_batch;
  info.micro_batch = sc.job.micro_batch;
  info.microbatches = sc.job.microbatches();
  info.train_tokens = sc.job.train_tokens;
  if (const auto& s = sc.sharding) {
    // The plan and sequences as given, not the pool's (whose sequences are seq_len / cp long).
    info.dp = p.dp / s->cp;
    info.cp = s->cp;
    info.seq_len = s->seq_len;
    info.global_batch = s->global_batch;
    TrainingRunInfo::Sharding r;
    r.policy = s->name;
    r.balance = s->policy->balances();
    r.pool_ranks = s->pool.ranks;
    r.capacity = s->pool.capacity;
    for (const auto& batch : s->iterations) {
      r.rings += static_cast<double>(batch.rings().size());
      for (const auto& ring : batch.rings()) {
        r.ring_ranks_mean += static_cast<double>(ring.ranks.size());
        r.ring_ranks_max = std::max(r.ring_ranks_max, static_cast<int>(ring.ranks.size()));
      }
      // The ranks' attention work apart: the busiest rank's pairs over the mean's.
      std::vector<double> pairs(static_cast<std::size_t>(s->pool.ranks), 0.0);
      double total = 0;
      for (int rank = 0; rank < s->pool.ranks; ++rank)
        for (int m = 0; m < s->pool.microbatches; ++m) {
          pairs[static_cast<std::size_t>(rank)] += batch.slot(rank, m).pairs;
          total += batch.slot(rank, m).pairs;
        }
      if (total > 0) r.attention_imbalance += *std::max_element(pairs.begin(), pairs.end()) * s->pool.ranks / total;
    }
    if (r.rings > 0) r.ring_ranks_mean /= r.rings;
    const auto iterations = static_cast<double>(std::max<std::size_t>(1, s->iterations.size()));
    r.rings /= iterations;
    r.attention_imbalance /= iterations;
    info.sharding = r;
  }
  info.model_flops_per_iteration = training::megatron_model_flops(sc.model, info.global_batch, info.seq_len);
  info.model_attention_flops = training::megatron_attention_flops(sc.model, info.global_batch, info.seq_len);
  info.peak_flops = sc.device->peak(sc.model.precision.gemm);
  if (!sc.other_devices.empty()) {
    // Mixed devices: the mean peak per GPU, so that MFU divides by the cluster's total peak.
    double total = 0;
    for (int r = 0; r < sc.gpus(); ++r) total += sc.device_of_type(sc.device_type(r)).peak(sc.model.precision.gemm);
    info.peak_flops = total / sc.gpus();
  }
  info.peak_dtype = std::string(to_string(sc.model.precision.gemm));
  info.device_memory = sc.device_memory;
  for (const auto& m : sc.memory)
    info.memory.push_back({.weights = m.weights,
                           .gradients = m.gradients,
                           .optimizer = m.optimizer_states(),
                           .activations = m.activations,
                           .buffers = m.comm_buffers,
                           .reserve = m.workspace,
                           .held_chunks = m.held_chunks});
  YAML::Emitter emitter;
  emitter << sc.resolved;
  info.resolved_yaml = std::string(emitter.c_str()) + "\n";
  return info;
}

ReplayRunInfo describe_replay_run(const ReplayScenario& sc) {
  ReplayRunInfo info;
  info.scenario = sc.name;
  info.file = sc.file;
  info.format = sc.format;
  info.cluster = sc.describe();
  info.device = sc.device->name;
  info.recorded_on = sc.recorded_on->name;
  info.ranks = sc.world_size;
  info.trace_files = static_cast<int>(sc.traces.size());
  info.mirrored = sc.mirrored;
  info.host_issue = sc.host_issue;
  for (const auto& t : sc.traces) info.trace_ops += t.ops.size();
  info.dropped_deps = sc.dropped_deps;
  info.scale_gemm = sc.time_scale[static_cast<std::size_t>(OpClass::gemm)];
  info.scale_attention = sc.time_scale[static_cast<std::size_t>(OpClass::attention_prefill)];
  info.scale_elementwise = sc.time_scale[static_cast<std::size_t>(OpClass::elementwise)];
  YAML::Emitter e;
  e << sc.resolved;
  info.resolved_yaml = std::string(e.c_str()) + "\n";
  return info;
}

}  // namespace hetsim::sim
