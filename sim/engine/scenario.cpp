#include "sim/engine/scenario.hpp"

#include <filesystem>

#include "sim/core/catalog.hpp"
#include "sim/core/registry.hpp"
#include "workload/workload_source.hpp"

namespace hetsim::sim {

namespace {
std::optional<double> optional_time(const config::Node& node, const char* key) {
  if (!node.has(key)) return std::nullopt;
  return node.quantity(key, units::Dim::time).positive().value();
}
}  // namespace

Scenario load_scenario(const config::Document& doc) {
  const config::Node root = doc.root();
  Scenario sc;
  sc.file = doc.file();
  sc.name = root.get<std::string>("name").default_to(std::filesystem::path(doc.file()).stem().string());
  sc.seed = root.get<unsigned long>("seed").default_to(1);

  auto model = catalog::with_preset(root, "model", "models/catalog");
  sc.model = models::parse_model(model.node);
  model.preset.check_unknown_keys();

  const config::Node cluster = root.child("cluster");
  auto device_cfg = catalog::with_preset(cluster, "device", "hw/catalog");
  auto device = std::make_shared<const hw::Device>(hw::parse_device(device_cfg.node));
  device_cfg.preset.check_unknown_keys();
  const int replicas = cluster.get<int>("replicas").default_to(1).in_range(1, 100000);
  const int tp = cluster.get<int>("tensor_parallel").default_to(1).in_range(1, 1024);
  sc.model.check_tensor_parallel(tp, cluster, "tensor_parallel");

  const config::Node serving = root.section("serving");
  sc.max_model_len = serving.get<std::int64_t>("max_model_len").default_to(sc.model.max_position_embeddings).at_least(1);

  const config::Node policy_cfg = root.section("policies");
  const config::Node scheduler_cfg = policy_cfg.section("scheduler");
  const config::Node kv_cfg = policy_cfg.section("kv_cache");
  const config::Node preemption_cfg = policy_cfg.section("preemption");
  for (int r = 0; r < replicas; ++r) {
    ReplicaPlan plan;
    plan.device = device;
    plan.tensor_parallel = tp;
    plan.scheduler = Registry<policies::Scheduler>::instance().make(scheduler_cfg, "vllm");
    plan.kv = Registry<policies::KvManager>::instance().make(kv_cfg, "paged");
    plan.preemption = Registry<policies::Preemption>::instance().make(preemption_cfg, "recompute");
    plan.kv->size({device->memory_capacity, sc.model.weight_bytes_per_device(tp), sc.model.kv_bytes_per_token(tp)});
    sc.replicas.push_back(std::move(plan));
  }
  sc.router = Registry<policies::Router>::instance().make(policy_cfg.section("router"), "round_robin");

  const config::Node workload = root.child("workload");
  auto source = Registry<workload::WorkloadSource>::instance().make(workload, "", "source");
  sc.requests = source->generate(sc.seed);
  if (sc.requests.empty()) workload.fail("the workload has no requests");

  const config::Node slo = root.section("slo");
  sc.slo.ttft = optional_time(slo, "ttft");
  sc.slo.tpot = optional_time(slo, "tpot");
  sc.slo.e2e = optional_time(slo, "e2e");
  const config::Node out = root.section("output");
  sc.output.steps = out.get<bool>("steps").default_to(true);
  sc.output.timeline = out.get<bool>("timeline").default_to(false);
  doc.check_unknown_keys();
  sc.resolved = doc.resolved();
  return sc;
}

}  // namespace hetsim::sim
