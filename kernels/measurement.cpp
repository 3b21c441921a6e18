#include "kernels/measurement.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "sim/core/io/atomic_file.hpp"
#include "sim/core/config.hpp"
#include "sim/core/error.hpp"
#include "sim/core/io/csv.hpp"

namespace hetsim::calibrate {

void write_raw_csv(const std::string& path, const std::vector<Measurement>& ms) {
  AtomicFile f(path);
  const bool groups = std::any_of(ms.begin(), ms.end(), [](const Measurement& m) { return !m.group.empty(); });
  f.write(groups ? "op_class,kernel,dtype,shape,flops,bytes,seconds,group\n" : "op_class,kernel,dtype,shape,flops,bytes,seconds\n");
  for (const auto& m : ms) {
    f.print("{},{},{},{},{},{},{}", to_string(m.cls), m.kernel, to_string(m.dtype), m.shape, m.flops, m.bytes, m.seconds);
    f.write(groups ? "," + m.group + "\n" : std::string("\n"));
  }
  f.commit();
}

std::vector<Measurement> read_raw_csv(const std::string& path) {
  workload::CsvReader csv(path);
  const auto cls = csv.column("op_class"), kernel = csv.column("kernel"), shape = csv.column("shape");
  const auto dtype = csv.column("dtype");
  const auto flops = csv.column("flops"), bytes = csv.column("bytes"), seconds = csv.column("seconds");
  const auto group = csv.find_column("group");
  std::vector<Measurement> out;
  while (csv.next()) {
    Measurement m;
    const auto parsed = parse_op_class(csv.field(cls));
    if (!parsed) csv.fail(fmt::format("op_class = \"{}\": unknown op class", csv.field(cls)));
    m.cls = *parsed;
    m.kernel = csv.field(kernel);
    const auto dt = parse_dtype(csv.field(dtype));
    if (!dt) csv.fail(fmt::format("dtype = \"{}\": expected bf16, fp16, fp8, fp32, tf32 or int8", csv.field(dtype)));
    m.dtype = *dt;
    m.shape = csv.field(shape);
    auto number = [&](std::size_t col, const char* name, bool positive) {
      double v = 0;
      if (!config::detail::convert(csv.field(col), v) || v < 0 || (positive && v == 0))
        csv.fail(fmt::format("{} = \"{}\": expected a number {} 0", name, csv.field(col), positive ? ">" : ">="));
      return v;
    };
    m.flops = number(flops, "flops", false);
    m.bytes = number(bytes, "bytes", false);
    m.seconds = number(seconds, "seconds", true);
    if (group) m.group = csv.field(*group);
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace hetsim::calibrate
