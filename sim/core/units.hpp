#pragma once
// Unit-aware quantities in scenario and catalog values: "80 GiB", "3.35 TB/s", "989 TFLOPS", "500 ms".
// Every quantity is converted once, here, to SI base units held in a double
// (bytes, bytes/s, FLOP/s, seconds). Bits ("400 Gbps", "400 Gb/s") are converted to bytes.
#include <string>
#include <string_view>

namespace hetsim::units {

enum class Dim { bytes, bandwidth, flop_rate, time, frequency };

/// The slowest bandwidth a config value may give (bytes/s): below any memory, disk or link hetsim
/// models, so anything less is a typo or a fault (e.g. "1e-30 TB/s"), refused where it is read.
inline constexpr double kMinBandwidth = 1e3;
/// The longest simulated time a run or transfer may reach (seconds, ~31.7 years): far beyond any
/// trace, so a run that gets there has a near-zero bandwidth or rate somewhere and stops with an
/// error instead of reporting it.
inline constexpr double kMaxSimulatedSeconds = 1e9;
/// The most bytes one `hetsim transfer` flow may move (1 EB): SimGrid loses track of larger
/// transfers (a 1e21-byte one never completed and was reported as taking 0 s).
inline constexpr double kMaxTransferBytes = 1e18;

/// Human name of a dimension, used in error messages ("a bandwidth").
std::string_view describe(Dim dim);
/// An example value of a dimension ("3.35 TB/s").
std::string_view example(Dim dim);

/// Parses "<number> <unit>" (space optional). Throws InputError whose message starts with the
/// offending text and lists accepted units; callers prefix it with the location.
double parse(std::string_view text, Dim dim);

/// Formats an SI value with a readable unit, e.g. 3.35e12 bytes/s -> "3.35 TB/s".
std::string format(double value, Dim dim);

}  // namespace hetsim::units
