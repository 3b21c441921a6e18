#pragma once
// `hetsim list`: every registered policy and workload source, and the catalogs' hardware, nodes
// and models with the figures a user chooses them by.
namespace hetsim::tools {

int run_list_command();

}  // namespace hetsim::tools
