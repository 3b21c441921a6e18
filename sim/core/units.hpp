#pragma once
// Unit-aware quantities in scenario and catalog values: "80 GiB", "3.35 TB/s", "989 TFLOPS", "500 ms".
// Every quantity is converted once, here, to SI base units held in a double
// (bytes, bytes/s, FLOP/s, seconds). Bits ("400 Gbps", "400 Gb/s") are converted to bytes.
#include <string>
#include <string_view>

namespace hetsim::units {

enum class Dim { bytes, bandwidth, flop_rate, time, frequency };

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
