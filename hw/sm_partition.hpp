#pragma once
// A share of one device's streaming multiprocessors, as CUDA MPS gives a process
// (CUDA_MPS_ACTIVE_THREAD_PERCENTAGE) and semi-PD gives its prefill and decode workers: the
// model engine's peak FLOP/s scale with the share of SMs, and its main memory's bandwidth with
// `bandwidth_share` (the two workers read the same HBM).
#include "hw/device.hpp"

namespace hetsim::hw {

/// `device` with its model engine's peaks times `compute_share` and its main memory's read and
/// write bandwidth times `bandwidth_share` (both in (0, 1]); everything else unchanged.
inline Device sm_partition(Device device, double compute_share, double bandwidth_share) {
  for (double& p : device.engines[device.engine].peak_flops) p *= compute_share;
  device.tiers.front().read_bandwidth *= bandwidth_share;
  device.tiers.front().write_bandwidth *= bandwidth_share;
  return device;
}

}  // namespace hetsim::hw
