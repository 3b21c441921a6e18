#include "tools/list_command.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "hw/device.hpp"
#include "models/model.hpp"
#include "sim/core/catalog.hpp"
#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"
#include "sim/serving/controller.hpp"
#include "sim/serving/kv_manager.hpp"
#include "sim/serving/preemption.hpp"
#include "sim/serving/router.hpp"
#include "sim/serving/scheduler.hpp"
#include "sim/training/activation_offload.hpp"
#include "sim/training/sequence_sharding.hpp"
#include "sim/training/checkpoint.hpp"
#include "sim/training/optimizer_offload.hpp"
#include "sim/training/node_placement.hpp"
#include "sim/training/failure_process.hpp"
#include "sim/training/pipeline_schedule.hpp"
#include "workload/workload_source.hpp"

namespace hetsim::tools {
namespace {

template <class Interface>
void list_registry(const char* title) {
  fmt::print("{}:\n", title);
  for (const auto& [name, e] : Registry<Interface>::instance().entries()) fmt::print("  {:<20} {}\n", name, e.description);
}

/// Rows of text cells printed with every column as wide as its widest cell.
void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size(); ++c) {
      if (width.size() <= c) width.push_back(0);
      width[c] = std::max(width[c], row[c].size());
    }
  for (const auto& row : rows) {
    std::string line = " ";
    for (std::size_t c = 0; c < row.size(); ++c)
      line += c + 1 == row.size() ? " " + row[c] : fmt::format(" {:<{}} ", row[c], width[c]);
    fmt::print("{}\n", line);
  }
}

/// `value` with a readable unit and at most 4 significant digits ("34.36 GB", not "34.3597 GB").
std::string quantity(double value, units::Dim dim) {
  if (value <= 0) return "-";
  const double magnitude = std::pow(10.0, std::floor(std::log10(value)) - 3);
  return units::format(std::round(value / magnitude) * magnitude, dim);
}

/// Where a device's efficiencies come from, short: "catalog default", "profile NAME", or both.
std::string calibration(const hw::Device& d) {
  std::vector<std::string> labels;
  for (OpClass c : kOpClasses) {
    std::string s = d.eff(c).source;
    // "catalog default (uncalibrated)", "profile NAME (held-out error 3.1%)": the part a user picks by.
    if (s.starts_with("ideal roofline")) s = "ideal roofline";
    else if (const auto paren = s.find(" ("); paren != std::string::npos) s.resize(paren);
    if (std::find(labels.begin(), labels.end(), s) == labels.end()) labels.push_back(s);
  }
  std::string out;
  for (const auto& l : labels) out += (out.empty() ? "" : " + ") + l;
  return out;
}

void list_devices() {
  fmt::print("hardware (cluster.device) in {}/hw/catalog:\n", catalog::root());
  std::vector<std::vector<std::string>> rows{{"name", "kind", "memory", "usable", "bandwidth", "16-bit dense", "calibration"}};
  for (const auto& name : catalog::names("hw/catalog")) {
    try {
      const auto doc = config::Document::load_file(fmt::format("{}/hw/catalog/{}.yaml", catalog::root(), name));
      const hw::Device d = hw::parse_device(doc.root());
      const double peak16 = std::max(d.peak(DType::bf16), d.peak(DType::fp16));
      const std::string engine = d.engines.size() > 1 ? fmt::format(" ({})", d.compute().name) : "";
      rows.push_back({name, d.kind_name,
                      fmt::format("{} {}", quantity(d.memory().capacity, units::Dim::bytes), d.memory().technology),
                      // What the driver reports (the KV budget starts from it); "-" where only the datasheet is known.
                      d.usable_memory_source.starts_with("driver") ? fmt::format("{:.2f} GiB", d.usable_memory / (1ull << 30)) : "-",
                      quantity(d.memory().read_bandwidth, units::Dim::bandwidth),
                      peak16 > 0 ? quantity(peak16, units::Dim::flop_rate) + engine : "-", calibration(d)});
    } catch (const InputError& e) {
      rows.push_back({name, "?", "", "", "", "", fmt::format("unreadable: {}", e.what())});
    }
  }
  print_table(rows);
}

void list_models() {
  fmt::print("models (model) in {}/models/catalog:\n", catalog::root());
  std::vector<std::vector<std::string>> rows{{"name", "parameters", "layers", "attention", "max context"}};
  bool mixed = false;  // a precision column only when some entry runs in mixed precision
  for (const auto& name : catalog::names("models/catalog")) {
    try {
      const auto doc = config::Document::load_file(fmt::format("{}/models/catalog/{}.yaml", catalog::root(), name));
      const models::ModelSpec m = models::parse_model(doc.root());
      const std::int64_t heads = m.num_attention_heads, kv = m.num_key_value_heads;
      const std::string attention = kv == heads ? fmt::format("MHA, {} heads", heads)
                                    : kv == 1   ? fmt::format("MQA, {} heads", heads)
                                                : fmt::format("GQA, {} KV heads of {}", kv, heads);
      rows.push_back({name, fmt::format("{:.2f} B", static_cast<double>(m.parameters()) / 1e9),
                      std::to_string(m.num_hidden_layers), attention,
                      fmt::format("{} tokens", m.max_position_embeddings),
                      m.precision.uniform() ? std::string(to_string(m.precision.weights)) : m.precision.describe()});
      mixed = mixed || !m.precision.uniform();
    } catch (const InputError& e) {
      rows.push_back({name, "?", "", "", fmt::format("unreadable: {}", e.what())});
    }
  }
  if (mixed)
    rows.front().push_back("precision");
  else
    for (auto& row : rows)
      if (row.size() == 6) row.pop_back();
  print_table(rows);
}

}  // namespace

int run_list_command() {
  list_registry<policies::Scheduler>("schedulers (policies.scheduler.impl)");
  list_registry<policies::KvManager>("KV-cache managers (policies.kv_cache.impl)");
  list_registry<policies::Preemption>("preemption (policies.preemption.impl)");
  list_registry<policies::Router>("routers (policies.router.impl)");
  list_registry<policies::Controller>("controllers (policies.controllers[].impl)");
  list_registry<workload::WorkloadSource>("workload sources (workload.source)");
  list_registry<training::PipelineSchedule>("pipeline schedules (policies.pipeline_schedule.impl)");
  list_registry<training::CheckpointPolicy>("checkpoint policies (policies.checkpoint.impl)");
  list_registry<training::NodePlacement>("node placement policies (policies.placement.impl)");
  list_registry<training::OptimizerOffloadPolicy>("optimizer offload policies (policies.optimizer_offload.impl)");
  list_registry<training::ActivationOffloadPolicy>("activation offload policies (policies.activation_offload.impl)");
  list_registry<training::SequenceShardingPolicy>("sequence sharding policies (policies.sequence_sharding.impl)");
  list_registry<training::FailureProcess>("failure processes (policies.failures.impl)");
  list_devices();
  fmt::print("nodes (cluster.node) in {}/hw/nodes:\n", catalog::root());
  for (const auto& n : catalog::names("hw/nodes")) fmt::print("  {}\n", n);
  fmt::print("failure-rate tables (policies.failures.rates) in {}/hw/failures:\n", catalog::root());
  for (const auto& n : catalog::names("hw/failures")) fmt::print("  {}\n", n);
  list_models();
  return 0;
}

}  // namespace hetsim::tools
