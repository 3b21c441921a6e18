// The calibration fit on real measurements: Vidur's H100 per-layer kernel times for CodeLlama-34B
// (tests/fixtures/calibrate/, derived by make_vidur_h100_raw.py from
// ../shared/data/measured_vidur/compute/h100/CodeLlama-34b-Instruct-hf.mlp.csv; microsoft/vidur,
// MIT licence in LICENSE-vidur; Agrawal et al., "Vidur", MLSys 2024). The fixture ships in the
// repository, so these tests run on a clean clone and fail when it is missing.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "calibrate/fit.hpp"
#include "catalog_entries.hpp"
#include "hw/cost_model.hpp"
#include "support.hpp"

using namespace hetsim;
using namespace hetsim::calibrate;

namespace {

constexpr const char* kRaw = "calibrate/vidur-h100-codellama34b.raw.csv";
constexpr const char* kProfile = "calibrate/vidur-h100-codellama34b.yaml";

/// The fixture's measurements by op class, fitted as `hetsim calibrate` fits them (fp16 peak:
/// Vidur measured fp16 kernels; the fixture holds GEMMs only).
hw::Profile refit(const std::vector<Measurement>& ms, const hw::Device& device) {
  std::map<OpClass, std::vector<Measurement>> by_class;
  for (const auto& m : ms) by_class[m.cls].push_back(m);
  hw::Profile p;
  p.name = "vidur-h100-codellama34b";
  p.device = device.name;
  p.gpu = "NVIDIA H100 80GB HBM3 (Vidur profiling)";
  p.measured = "Vidur data/profiling/compute/h100, CodeLlama-34b-Instruct-hf, fp16 medians";
  p.raw = "vidur-h100-codellama34b.raw.csv";
  for (const auto& [cls, list] : by_class)
    p.classes[static_cast<std::size_t>(cls)] =
        fit_class(list, {device.peak(DType::fp16), device.memory().read_bandwidth}, device.eff(cls));
  return p;
}

const hw::ClassFit& fit_of(const hw::Profile& p, OpClass c) {
  REQUIRE(p.classes[static_cast<std::size_t>(c)].has_value());
  return *p.classes[static_cast<std::size_t>(c)];
}

void check_same(const hw::ClassFit& a, const hw::ClassFit& b) {
  CHECK(a.has_compute == b.has_compute);
  CHECK(a.has_memory == b.has_memory);
  CHECK(a.points == b.points);
  CHECK(a.efficiency.compute == Approx(b.efficiency.compute).epsilon(1e-6));
  CHECK(a.efficiency.compute_half == Approx(b.efficiency.compute_half).epsilon(1e-6));
  CHECK(a.efficiency.memory == Approx(b.efficiency.memory).epsilon(1e-6));
  CHECK(a.efficiency.memory_half == Approx(b.efficiency.memory_half).epsilon(1e-6));
  CHECK(a.held_out_error == Approx(b.held_out_error).epsilon(1e-6));
}

}  // namespace

TEST_CASE("calibrate: Vidur's measured H100 kernels refit to the committed profile with small held-out error",
          "[calibrate]") {
  const auto device = test::catalog_device("h100-sxm5-80gb");
  const auto ms = read_raw_csv(test::fixture(kRaw));
  REQUIRE(ms.size() == 240);
  // No measured kernel beats the datasheet roofline (989.4 TFLOPS fp16, 3.35 TB/s): FLOPs and
  // bytes were derived correctly from the shapes.
  for (const auto& m : ms) {
    INFO(m.kernel << " " << m.shape);
    REQUIRE(m.seconds >= std::max(m.flops / 989.4e12, m.bytes / 3.35e12));
  }
  const hw::Profile fitted = refit(ms, device);
  const auto& gemm = fit_of(fitted, OpClass::gemm);
  CHECK(gemm.points == 240);
  // Both regimes are identified from 1..4096-token GEMMs; cuBLAS fp16 on H100 reaches well under
  // peak but more than half of it.
  CHECK(gemm.has_compute);
  CHECK(gemm.has_memory);
  CHECK(gemm.efficiency.compute > 0.5);
  CHECK(gemm.efficiency.compute <= 1.0);
  CHECK(gemm.efficiency.memory <= 1.0);
  // Held-out error: median relative error on every 5th measurement left out of the fit.
  CHECK(gemm.held_out_error > 0.0);
  CHECK(gemm.held_out_error < 0.08);  // 6.9% when the fixture was committed

  // The committed profile is exactly what the fit gives (a change to the fit shows up here).
  auto doc = config::Document::load_file(test::fixture(kProfile));
  const hw::Profile committed = hw::parse_profile(doc.root());
  doc.check_unknown_keys();
  CHECK(committed.device == "h100-sxm5-80gb");
  CHECK(committed.raw == fitted.raw);
  for (OpClass c : kOpClasses) {
    INFO(to_string(c));
    REQUIRE(committed.classes[static_cast<std::size_t>(c)].has_value() == fitted.classes[static_cast<std::size_t>(c)].has_value());
    if (fitted.classes[static_cast<std::size_t>(c)]) check_same(fit_of(fitted, c), fit_of(committed, c));
  }
}

TEST_CASE("calibrate: the Vidur-fitted profile round-trips through YAML and prices kernels as the fit predicts",
          "[calibrate]") {
  const auto ms = read_raw_csv(test::fixture(kRaw));
  test::TempDir dir("vidur_profile");
  // Round trip: write the committed profile, read it back, same curves.
  auto doc = config::Document::load_file(test::fixture(kProfile));
  const hw::Profile committed = hw::parse_profile(doc.root());
  const auto path = dir.write("vidur-h100-codellama34b.yaml", hw::profile_yaml(committed));
  auto redoc = config::Document::load_file(path);
  const hw::Profile back = hw::parse_profile(redoc.root());
  redoc.check_unknown_keys();
  check_same(fit_of(back, OpClass::gemm), fit_of(committed, OpClass::gemm));
  CHECK_FALSE(back.classes[static_cast<std::size_t>(OpClass::elementwise)].has_value());

  // A device using the profile file prices each measured GEMM as the fit predicts, plus the
  // catalog's 4 us launch overhead (the profile measured none), never under the roofline, and
  // close to the measurement (median relative error of the same order as the held-out error).
  auto scen = config::Document::load_string("device: {preset: h100-sxm5-80gb, profile: " + path + "}\n", dir.file("s.yaml"));
  auto layered = catalog::with_preset(scen.root(), "device", "hw/catalog");
  const auto device = hw::parse_device(layered.node);
  CHECK_THAT(device.efficiency_source, Catch::Contains("gemm: profile vidur-h100-codellama34b"));
  const hw::CostModel cost(device);
  const auto& gemm = fit_of(committed, OpClass::gemm);
  std::vector<double> errors;
  for (const auto& m : ms) {
    Op op;
    op.cls = OpClass::gemm;
    op.dtype = DType::fp16;
    op.flops = m.flops;
    op.activations.bytes = m.bytes;
    INFO(m.kernel << " " << m.shape);
    const double t = cost.time(op);
    CHECK(t == Approx(predict(m, gemm.efficiency, {989.4e12, 3.35e12}) + 4e-6).epsilon(1e-9));
    CHECK(t >= cost.roofline_bound(op));
    errors.push_back(std::abs(t - 4e-6 - m.seconds) / m.seconds);
  }
  std::nth_element(errors.begin(), errors.begin() + static_cast<long>(errors.size() / 2), errors.end());
  CHECK(errors[errors.size() / 2] < 0.08);
}
