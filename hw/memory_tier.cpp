#include "hw/memory_tier.hpp"

#include <algorithm>
#include <array>

namespace hetsim::hw {

std::optional<TierKind> parse_tier_kind(std::string_view name) {
  for (TierKind k : std::array{TierKind::hbm, TierKind::sram, TierKind::pim, TierKind::dram, TierKind::cxl, TierKind::ssd,
                               TierKind::flash, TierKind::csd, TierKind::remote})
    if (to_string(k) == name) return k;
  return std::nullopt;
}

double MemoryTier::effective_bandwidth(double request_size, bool write) const {
  const double peak = write ? write_bandwidth : read_bandwidth;
  double bw = request_half > 0 ? peak * request_size / (request_size + request_half) : peak;
  const double iops = write ? write_iops : read_iops;
  if (iops > 0) bw = std::min(bw, iops * request_size);
  return bw;
}

}  // namespace hetsim::hw
