#pragma once
// One kind of place where bytes live, the same type for a device's own memories (HBM, on-chip
// SRAM, PIM-internal memory, device flash) and a node's (host DRAM, CXL, SSD, computational
// storage, remote stores). A device's tiers become the node's tiers when it is placed on a slot.
#include <optional>
#include <string>
#include <string_view>

namespace hetsim::hw {

/// ssd/flash: block devices. csd: computational storage, a block device whose read_bandwidth is its
/// internal flash bandwidth (far above its host link, which caps anything moved out of it).
/// remote: storage reached over the network (NICs). sram: on-chip scratchpad (NPU). pim: the
/// internal view of a processing-in-memory device's DRAM, at the bandwidth its PIM units see.
enum class TierKind { hbm, sram, pim, dram, cxl, ssd, flash, csd, remote };

constexpr std::string_view to_string(TierKind k) {
  switch (k) {
    case TierKind::hbm: return "hbm";
    case TierKind::sram: return "sram";
    case TierKind::pim: return "pim";
    case TierKind::dram: return "dram";
    case TierKind::cxl: return "cxl";
    case TierKind::ssd: return "ssd";
    case TierKind::flash: return "flash";
    case TierKind::csd: return "csd";
    case TierKind::remote: return "remote";
  }
  return "?";
}
std::optional<TierKind> parse_tier_kind(std::string_view name);

struct MemoryTier {
  std::string name;
  TierKind kind = TierKind::dram;
  double capacity = 0;         ///< bytes
  double read_bandwidth = 0;   ///< bytes/s
  double write_bandwidth = 0;  ///< bytes/s
  double latency = 0;          ///< seconds added per access (CXL: added over local DRAM)
  double request_half = 0;     ///< block devices: request size at which bandwidth is half of peak
  double read_iops = 0;        ///< block devices: random-read operations per second (0 = no limit)
  double write_iops = 0;
  std::string technology;      ///< e.g. "HBM3", "LPDDR5X", "UFS 4.0" (descriptive)

  /// Stored on a block device (a SimGrid disk) rather than byte-addressable memory.
  bool is_block_device() const { return kind == TierKind::ssd || kind == TierKind::flash || kind == TierKind::csd; }
  /// Bandwidth reading (or writing) in requests of `request_size` bytes: flash reaches its peak
  /// only with large requests, e(s) = peak * s / (s + s_half), and never beats IOPS * s.
  double effective_bandwidth(double request_size, bool write) const;
};

}  // namespace hetsim::hw
