#include "sim/core/units.hpp"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>

#include "sim/core/error.hpp"

namespace hetsim::units {
namespace {

struct UnitEntry {
  std::string_view name;
  double factor;
};

// Decimal prefixes follow SI (datasheets quote GB = 1e9 bytes); binary prefixes are exact powers of 2.
constexpr double kKi = 1024.0, kMi = kKi * 1024, kGi = kMi * 1024, kTi = kGi * 1024;
constexpr auto kBytes = std::to_array<UnitEntry>({{"B", 1}, {"KB", 1e3}, {"kB", 1e3}, {"MB", 1e6}, {"GB", 1e9},
                            {"TB", 1e12},      {"PB", 1e15}, {"KiB", kKi}, {"MiB", kMi}, {"GiB", kGi},
                            {"TiB", kTi}});
constexpr auto kBandwidth = std::to_array<UnitEntry>({
    {"B/s", 1}, {"KB/s", 1e3},   {"kB/s", 1e3},   {"MB/s", 1e6},   {"GB/s", 1e9},    {"TB/s", 1e12},
    {"KiB/s", kKi},      {"MiB/s", kMi},  {"GiB/s", kGi},  {"TiB/s", kTi},  {"Bps", 1},       {"KBps", 1e3},
    {"MBps", 1e6},       {"GBps", 1e9},   {"TBps", 1e12},  {"bps", 1.0 / 8}, {"Kbps", 1e3 / 8}, {"Mbps", 1e6 / 8},
    {"Gbps", 1e9 / 8},   {"Tbps", 1e12 / 8}, {"b/s", 1.0 / 8}, {"Kb/s", 1e3 / 8}, {"Mb/s", 1e6 / 8},
    {"Gb/s", 1e9 / 8},   {"Tb/s", 1e12 / 8}});
constexpr auto kFlopRate = std::to_array<UnitEntry>({{"FLOPS", 1}, {"KFLOPS", 1e3}, {"MFLOPS", 1e6}, {"GFLOPS", 1e9},
                               {"TFLOPS", 1e12},      {"PFLOPS", 1e15}, {"FLOP/s", 1}, {"GFLOP/s", 1e9},
                               {"TFLOP/s", 1e12},     {"PFLOP/s", 1e15}, {"OPS", 1}, {"GOPS", 1e9},
                               {"TOPS", 1e12},        {"POPS", 1e15}});
constexpr auto kFrequency = std::to_array<UnitEntry>({{"Hz", 1}, {"kHz", 1e3}, {"KHz", 1e3}, {"MHz", 1e6}, {"GHz", 1e9}});
constexpr auto kTime = std::to_array<UnitEntry>({{"s", 1},   {"ms", 1e-3}, {"us", 1e-6}, {"µs", 1e-6},
                           {"ns", 1e-9},        {"min", 60},  {"h", 3600}});

template <std::size_t N>
const UnitEntry* find(const std::array<UnitEntry, N>& table, std::string_view name) {
  for (const auto& e : table)
    if (e.name == name) return &e;
  return nullptr;
}

template <std::size_t N>
std::string list(const std::array<UnitEntry, N>& table) {
  std::string out;
  for (const auto& e : table) {
    if (!out.empty()) out += ", ";
    out += e.name;
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string_view describe(Dim dim) {
  switch (dim) {
    case Dim::bytes: return "a size";
    case Dim::bandwidth: return "a bandwidth";
    case Dim::flop_rate: return "a compute rate";
    case Dim::time: return "a duration";
    case Dim::frequency: return "a frequency";
  }
  return "a quantity";
}

std::string_view example(Dim dim) {
  switch (dim) {
    case Dim::bytes: return "80 GiB";
    case Dim::bandwidth: return "3.35 TB/s";
    case Dim::flop_rate: return "989 TFLOPS";
    case Dim::time: return "500 ms";
    case Dim::frequency: return "1050 MHz";
  }
  return "";
}

double parse(std::string_view raw, Dim dim) {
  const std::string_view text = trim(raw);
  double number = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, number);
  auto expected = [&] {
    std::string units;
    switch (dim) {
      case Dim::bytes: units = list(kBytes); break;
      case Dim::bandwidth: units = list(kBandwidth); break;
      case Dim::flop_rate: units = list(kFlopRate); break;
      case Dim::time: units = list(kTime); break;
      case Dim::frequency: units = list(kFrequency); break;
    }
    return fmt::format("expected {} such as \"{}\" (units: {})", describe(dim), example(dim), units);
  };
  if (ec != std::errc{} || ptr == begin)
    throw InputError(fmt::format("\"{}\": not a number with a unit; {}", raw, expected()));
  const std::string_view unit = trim(std::string_view(ptr, static_cast<std::size_t>(end - ptr)));
  if (unit.empty()) throw InputError(fmt::format("\"{}\": missing unit; {}", raw, expected()));
  const UnitEntry* entry = nullptr;
  switch (dim) {
    case Dim::bytes: entry = find(kBytes, unit); break;
    case Dim::bandwidth: entry = find(kBandwidth, unit); break;
    case Dim::flop_rate: entry = find(kFlopRate, unit); break;
    case Dim::time: entry = find(kTime, unit); break;
    case Dim::frequency: entry = find(kFrequency, unit); break;
  }
  if (!entry) throw InputError(fmt::format("\"{}\": unknown unit '{}'; {}", raw, unit, expected()));
  const double value = number * entry->factor;
  if (!std::isfinite(value)) throw InputError(fmt::format("\"{}\": not finite; {}", raw, expected()));
  return value;
}

std::string format(double value, Dim dim) {
  struct Scale {
    double factor;
    const char* unit;
  };
  auto pick = [value](std::initializer_list<Scale> scales) {
    const Scale* best = scales.begin();
    for (const auto& s : scales)
      if (std::abs(value) >= s.factor) best = &s;
    return fmt::format("{:g} {}", value / best->factor, best->unit);
  };
  switch (dim) {
    case Dim::bytes: return pick({{1, "B"}, {1e3, "KB"}, {1e6, "MB"}, {1e9, "GB"}, {1e12, "TB"}});
    case Dim::bandwidth: return pick({{1, "B/s"}, {1e3, "KB/s"}, {1e6, "MB/s"}, {1e9, "GB/s"}, {1e12, "TB/s"}});
    case Dim::flop_rate: return pick({{1, "FLOPS"}, {1e9, "GFLOPS"}, {1e12, "TFLOPS"}, {1e15, "PFLOPS"}});
    case Dim::time:
      if (value == 0) return "0 s";
      return pick({{1e-9, "ns"}, {1e-6, "us"}, {1e-3, "ms"}, {1, "s"}});
    case Dim::frequency: return pick({{1, "Hz"}, {1e6, "MHz"}, {1e9, "GHz"}});
  }
  return fmt::format("{:g}", value);
}

}  // namespace hetsim::units
