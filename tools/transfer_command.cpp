#include "tools/transfer_command.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "hw/cluster_topology.hpp"
#include "sim/core/catalog.hpp"
#include "sim/core/error.hpp"
#include "sim/engine/transfer_probe.hpp"

namespace hetsim::tools {

namespace {
/// A node or cluster description: a file, or a hw/nodes preset name. A lone node's NICs lead
/// nowhere without a fabric, so they are checked and left out.
hw::Cluster load_platform(const std::string& what) {
  const bool is_file = what.ends_with(".yaml") || what.find('/') != std::string::npos;
  auto doc = is_file ? config::Document::load_file(what)
                     : catalog::load("hw/nodes", what, config::Document::load_string("topology: x\n", "--topology").root(),
                                     "topology");
  const config::Node root = doc.root();
  (void)root.get<std::string>("name").default_to("").value();
  hw::Cluster cluster;
  if (root.has("node_types")) {
    cluster = hw::parse_cluster(root);
  } else {
    auto topology = std::make_shared<const hw::NodeTopology>(hw::parse_topology(root));
    (void)hw::parse_nics(root, *topology);
    cluster.nodes.push_back({"", topology, nullptr});
  }
  doc.check_unknown_keys();
  return cluster;
}

sim::Flow parse_flow(const std::string& text, double default_bytes, double request_size) {
  // FROM:TO[:BYTES]; names may hold '/' and '.', not ':'.
  const auto first = text.find(':');
  const auto second = first == std::string::npos ? std::string::npos : text.find(':', first + 1);
  if (first == std::string::npos || first == 0 || first + 1 == text.size())
    throw InputError(fmt::format("--flow {}: expected FROM:TO or FROM:TO:BYTES, e.g. gpu0.hbm:host.dram:4GB", text));
  sim::Flow f;
  f.from = text.substr(0, first);
  f.to = text.substr(first + 1, second == std::string::npos ? std::string::npos : second - first - 1);
  f.bytes = default_bytes;
  if (second != std::string::npos) {
    try {
      f.bytes = units::parse(text.substr(second + 1), units::Dim::bytes);
    } catch (const InputError& e) {
      throw InputError(fmt::format("--flow {}: {}", text, e.what()));
    }
  }
  if (f.bytes <= 0) throw InputError(fmt::format("--flow {}: bytes must be positive", text));
  if (f.bytes > units::kMaxTransferBytes)
    throw InputError(fmt::format("--flow {}: {} is more than {}, the most one flow may move", text,
                                 units::format(f.bytes, units::Dim::bytes), units::format(units::kMaxTransferBytes, units::Dim::bytes)));
  f.request_size = request_size;
  return f;
}
}  // namespace

int run_transfer_command(const TransferOptions& o) {
  const hw::Cluster platform = load_platform(o.topology);
  const double bytes = units::parse(o.bytes, units::Dim::bytes);
  const double request = units::parse(o.request_size, units::Dim::bytes);
  if (bytes <= 0 || request <= 0) throw InputError("--bytes and --request-size must be positive");
  if (o.flows.empty()) throw InputError("give at least one --flow FROM:TO");
  std::vector<sim::Flow> flows;
  for (const auto& f : o.flows) flows.push_back(parse_flow(f, bytes, request));
  const auto results = sim::run_flows(platform, flows);
  fmt::print("{:<40} {:>10} {:>12} {:>12} {:>9}  route\n", "flow", "bytes", "idle (ms)", "sim (ms)", "slowdown");
  for (std::size_t i = 0; i < flows.size(); ++i) {
    std::string route;
    for (const auto& l : results[i].route) route += (route.empty() ? "" : " > ") + l;
    fmt::print("{:<40} {:>10} {:>12.4f} {:>12.4f} {:>8.2f}x  {}\n", flows[i].from + " -> " + flows[i].to,
               units::format(flows[i].bytes, units::Dim::bytes), 1e3 * results[i].idle_seconds, 1e3 * results[i].seconds,
               results[i].seconds / results[i].idle_seconds, route);
  }
  return 0;
}

}  // namespace hetsim::tools
