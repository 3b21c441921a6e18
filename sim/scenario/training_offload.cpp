#include "sim/scenario/training_offload.hpp"

#include <algorithm>
#include <map>

#include "hw/device.hpp"
#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"
#include "sim/scenario/training_scenario.hpp"

namespace hetsim::sim {

namespace {

constexpr double kGiB = 1 << 30;

/// DeepSpeed's offload buffers for NVMe-resident states (deepspeed/runtime/zero/offload_config.py):
/// buffer_count 4 pinned fp32 buffers of sub_group_size elements (default 1e9), bounded here by the
/// shard they stream.
constexpr double kNvmeBuffers = 4, kSubGroupElements = 1e9;
/// DeepSpeed's parameter buffers for NVMe-resident weights (offload_param: buffer_count 5,
/// buffer_size 1e8 elements, in its configuration docs).
constexpr double kParamBuffers = 5, kParamBufferElements = 1e8;

}  // namespace

double host_dram_limit(const config::Node& cfg, const char* key, std::optional<double> limit, const hw::MemoryTier& dram) {
  if (limit && *limit > dram.capacity)
    cfg.fail_key(key, fmt::format("{:.0f} GiB", *limit / kGiB),
                 fmt::format("at most the DRAM tier's {:.0f} GiB", dram.capacity / kGiB));
  return limit.value_or(dram.capacity);
}

std::unique_ptr<training::OffloadSetup> read_optimizer_offload(const TrainingScenario& sc, const config::Node& cfg) {
  // impl: none switches the offload off (a sweep axis can then compare with and without); its other
  // keys are read, so that they stay valid when switched off.
  if (cfg.has("impl") && cfg.child("impl").is_scalar() && cfg.child("impl").scalar() == "none") {
    for (const char* k : {"placement", "dram_limit", "cpu", "sockets", "pipeline", "gpu_fraction", "params"}) (void)cfg.has(k);
    return nullptr;
  }
  auto setup = std::make_unique<training::OffloadSetup>();
  setup->policy = Registry<training::OptimizerOffloadPolicy>::instance().make(cfg, "");
  setup->name = cfg.get<std::string>("impl").value();
  setup->step = setup->policy->step();
  const ParallelPlan& p = sc.job.plan;
  const training::CheckpointPlace params = setup->policy->params();
  if (params != training::CheckpointPlace::device) {
    if (p.zero < 3)
      cfg.fail_key("params", training::to_string(params),
                   fmt::format("device unless training.zero is 3 (it is {}): parameter offload moves each rank's shard of "
                               "the weights, which only ZeRO-3 partitions", p.zero));
    // The updated weights stay where the shard lives: no copy up to the device (ZeRO-Infinity's
    // CPU Adam writes the fp16 shard in place), and on NVMe they are written back there.
    using Kind = training::OffloadOp::Kind;
    using Payload = training::OffloadOp::Payload;
    for (auto& phase : setup->step.phases)
      for (auto& lane : phase)
        for (auto& op : lane)
          if (op.kind == Kind::copy && op.payload == Payload::weights && op.to == training::CheckpointPlace::device) {
            if (params == training::CheckpointPlace::nvme) op.to = training::CheckpointPlace::nvme;
            else op.share = 0;  // a zero share does nothing
          }
  }
  if (p.ep > 1)
    cfg.fail(fmt::format("{} with expert parallelism (shards of dense and expert states over different groups) is not "
                         "built; use parallel.ep: 1",
                         setup->name));
  if (p.zero == 0 && p.weight_replicas() > 1)
    cfg.fail(fmt::format("{} offloads each data-parallel rank's optimizer shard (DeepSpeed offloads ZeRO's partitions); "
                         "with zero: 0 all {} ranks would update the whole model on their hosts: set training.zero >= 1",
                         setup->name, p.weight_replicas()));
  return setup;
}

void price_optimizer_offload(TrainingScenario& sc, const config::Node& cfg) {
  training::OffloadSetup& o = *sc.offload;
  const training::OptimizerOffloadPolicy& policy = *o.policy;
  const ParallelPlan& p = sc.job.plan;
  const hw::NodeSpec& node = *sc.node;

  // The host CPU that runs the update.
  hw::Device cpu;
  try {
    cpu = hw::catalog_device(policy.cpu());
  } catch (const InputError& e) {
    cfg.fail_key("cpu", policy.cpu(), fmt::format("expected a CPU of hw/catalog ({})", e.what()));
  }
  if (cpu.kind != hw::DeviceKind::cpu || !(cpu.peak(DType::fp32) > 0))
    cfg.fail_key("cpu", policy.cpu(), fmt::format("expected a CPU with an fp32 peak; it is a {} device", cpu.kind_name));
  const hw::Efficiency& eff = cpu.eff(OpClass::elementwise);
  const training::HostCpu host_cpu{cpu.peak(DType::fp32) * policy.sockets(), eff.compute, eff.memory};

  // Host memory: the node's DRAM tier and its CXL expanders.
  const std::string dram_name = node.first_dram_tier();
  if (dram_name.empty())
    cfg.fail(fmt::format("{} keeps optimizer state in host memory, but node '{}' ({}) has no DRAM tier", o.name, node.name,
                         node.source));
  const hw::MemoryTier& dram = *node.topology.tier(dram_name);
  training::HostMemory mem{dram.read_bandwidth, 0, 0};
  double cxl_capacity = 0;
  for (const auto& t : node.topology.tiers)
    if (t.kind == hw::TierKind::cxl) {
      mem.cxl_bandwidth += t.read_bandwidth;
      mem.cxl_tiers += 1;
      cxl_capacity += t.capacity;
    }
  const double dram_capacity = host_dram_limit(cfg, "dram_limit", policy.dram_limit(), dram);
  const bool on_nvme = policy.states_place() == training::CheckpointPlace::nvme;
  const bool params_on_nvme = policy.params() == training::CheckpointPlace::nvme;
  const bool params_in_host = policy.params() == training::CheckpointPlace::host;
  if (on_nvme || params_on_nvme)
    for (std::size_t i = 0; i < sc.nearest_ssd.size(); ++i)
      if (sc.nearest_ssd[i].empty())
        cfg.fail(fmt::format("{} keeps {} on NVMe, but node '{}' ({}) has no SSD tier reachable from {}", o.name,
                             on_nvme ? "the optimizer states" : "the weights", node.name, node.source, node.device_slots[i]));

  // One device's shard on each pipeline rank, and the bytes per parameter the step moves.
  const double shard_ways = p.zero >= 1 ? p.weight_replicas() : 1;
  o.shard_parameters.clear();
  for (const auto& m : sc.memory) o.shard_parameters.push_back(m.parameters / shard_ways);
  o.bytes.gradient = bytes_per_element(sc.job.grad_dtype);
  o.bytes.weight = sc.model.precision.weight_bytes_per_element();
  if (!sc.memory.empty() && o.shard_parameters.front() > 0)
    o.bytes.states = sc.memory.front().offloaded_states / o.shard_parameters.front();

  // Per node: the parameters its devices offload, the host memory they take, the CPU's update.
  const int slots = sc.slots_per_node();
  const int per_stage = p.tp * p.cp * p.dp;
  o.cpu_seconds.assign(static_cast<std::size_t>(sc.nodes), 0.0);
  std::map<std::string, double> ssd_bytes;  // states per SSD tier of one node (every node alike in layout)
  for (int n = 0; n < sc.nodes; ++n) {
    double params = 0, buffers = 0;
    for (int r = n * slots; r < std::min((n + 1) * slots, sc.gpus()); ++r) {
      const double shard = o.shard_parameters[static_cast<std::size_t>(r / per_stage)];
      params += shard;
      const std::string ssd = on_nvme || params_on_nvme
                                  ? fmt::format("node{}/{}", n, sc.nearest_ssd[static_cast<std::size_t>(r % slots)])
                                  : "";
      if (on_nvme) {
        buffers += kNvmeBuffers * std::min(shard, kSubGroupElements) * 4;
        ssd_bytes[ssd] += shard * o.bytes.states;
      }
      // The weights' shard: in pinned host memory, or on NVMe with DeepSpeed's parameter buffers
      // (offload_param buffer_count 5 x buffer_size 1e8 elements) in host memory.
      if (params_in_host) buffers += shard * o.bytes.weight;
      if (params_on_nvme) {
        buffers += kParamBuffers * std::min(shard, kParamBufferElements) * o.bytes.weight;
        ssd_bytes[ssd] += shard * o.bytes.weight;
      }
    }
    // DRAM holds the fp32 gradient partitions (and for NVMe the pinned read/write buffers); the
    // states go to DRAM or CXL by the placement, or stay on the SSDs.
    const double pinned = params * o.bytes.host_gradient + buffers;
    const double states = on_nvme ? 0 : params * o.bytes.states;
    if (pinned > dram_capacity)
      cfg.fail(fmt::format("node {}: the offloaded optimizer's pinned DRAM buffers (fp32 gradients{}{}) need {:.1f} GiB; the "
                           "node's DRAM offers {:.1f} GiB{}",
                           n, on_nvme ? ", NVMe read/write buffers" : "",
                           params_in_host ? ", the weights" : params_on_nvme ? ", parameter buffers" : "", pinned / kGiB,
                           dram_capacity / kGiB,
                           policy.dram_limit() ? " (dram_limit)" : ""));
    double share = 0;
    try {
      share = training::cxl_share(policy.placement(), states, dram_capacity - pinned, mem);
    } catch (const InputError& e) {
      cfg.fail(fmt::format("node {}: {} ({:.1f} GiB of DRAM{}); offload fewer states per node (more nodes or pipeline "
                           "stages) or use a node with CXL memory or more DRAM",
                           n, e.what(), dram_capacity / kGiB, policy.dram_limit() ? ", dram_limit" : ""));
    }
    const double in_cxl = share * states, in_dram = pinned + states - in_cxl;
    if (in_dram > dram_capacity * (1 + 1e-12) || in_cxl > cxl_capacity * (1 + 1e-12))
      cfg.fail(fmt::format("node {}: the offloaded optimizer needs {:.1f} GiB of DRAM and {:.1f} GiB of CXL; the node "
                           "offers {:.1f} GiB{} and {:.1f} GiB ({} placement)",
                           n, in_dram / kGiB, in_cxl / kGiB, dram_capacity / kGiB, policy.dram_limit() ? " (dram_limit)" : "",
                           cxl_capacity / kGiB, training::to_string(policy.placement())));
    if (pinned + states > o.host_bytes) {
      o.host_bytes = pinned + states;
      o.host_dram = in_dram;
      o.host_cxl = in_cxl;
      o.cxl_share = share;
    }
    o.cpu_seconds[static_cast<std::size_t>(n)] = training::cpu_adam_seconds(params, o.bytes.weight, host_cpu, mem, share);
  }
  o.host_capacity = dram_capacity + cxl_capacity;
  for (const auto& [tier, bytes] : ssd_bytes) {
    const auto slash = tier.find('/');
    const hw::MemoryTier* t = node.topology.tier(tier.substr(slash + 1));
    if (bytes > t->capacity)
      cfg.fail(fmt::format("{} keeps {:.1f} GiB of {} on {}, which holds {:.1f} GiB", o.name, bytes / kGiB,
                           on_nvme ? "optimizer states" : "weights", tier, t->capacity / kGiB));
    if (bytes > o.nvme_bytes) {
      o.nvme_bytes = bytes;
      o.nvme_capacity = t->capacity;
    }
  }
}

}  // namespace hetsim::sim
