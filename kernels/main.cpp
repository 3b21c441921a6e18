// hetsim-kernels: the GPU half of `hetsim calibrate`, kept out of the hetsim binary so that hetsim
// does not load cuBLAS/NCCL at every start.
//   hetsim-kernels measure --raw RAW.csv --copies COPIES.csv --info INFO.json [--quick]
// Exit codes: 0 ok, 2 no usable GPU or bad arguments, 1 internal error.
#include <fmt/format.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "kernels/measurement.hpp"
#include "kernels/runner.hpp"
#include "sim/core/io/atomic_file.hpp"
#include "sim/core/error.hpp"

int main(int argc, char** argv) {
  using namespace hetsim;
  std::string raw, info_path, copies_path;
  calibrate::GridOptions grid;
  if (argc < 2 || std::strcmp(argv[1], "measure") != 0) {
    fmt::print(stderr, "usage: hetsim-kernels measure --raw RAW.csv --copies COPIES.csv --info INFO.json [--quick]\n");
    return 2;
  }
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--raw" && i + 1 < argc) raw = argv[++i];
    else if (a == "--info" && i + 1 < argc) info_path = argv[++i];
    else if (a == "--copies" && i + 1 < argc) copies_path = argv[++i];
    else if (a == "--quick") grid.quick = true;
    else {
      fmt::print(stderr, "error: unknown argument '{}'\n", a);
      return 2;
    }
  }
  if (raw.empty() || info_path.empty() || copies_path.empty()) {
    fmt::print(stderr, "error: --raw, --copies and --info are required\n");
    return 2;
  }
  return exit_code_of([&] {
    calibrate::GpuInfo info;
    const auto ms = calibrate::measure_all(grid, info);
    calibrate::write_raw_csv(raw, ms);
    AtomicFile copies(copies_path);
    copies.write("direction,bytes,seconds\n");
    for (const auto& c : calibrate::measure_copies(grid)) copies.print("{},{},{}\n", c.direction, c.bytes, c.seconds);
    copies.commit();
    AtomicFile out(info_path);
    out.write(nlohmann::json{{"name", info.name}, {"details", info.details}, {"devices", info.devices}}.dump(2) + "\n");
    out.commit();
    fmt::print("measured {} kernels on {}\n", ms.size(), info.name);
    return 0;
  });
}
