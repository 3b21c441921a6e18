#pragma once
// `hetsim transfer TOPOLOGY --flow FROM:TO ...`: routes, idle times and contended times of
// concurrent transfers on a node (hw/nodes) or cluster topology.
#include <string>
#include <vector>

namespace hetsim::tools {

struct TransferOptions {
  std::string topology;            ///< a hw/nodes name or a YAML file (node or cluster description)
  std::vector<std::string> flows;  ///< "FROM:TO" or "FROM:TO:BYTES"
  std::string bytes = "1 GB";      ///< default size of a flow
  std::string request_size = "1 MiB";
};

int run_transfer_command(const TransferOptions& options);

}  // namespace hetsim::tools
