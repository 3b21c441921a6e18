#include <catch2/catch.hpp>

#include <cmath>

#include "calibrate/fit.hpp"
#include "catalog_entries.hpp"
#include "hw/cost_model.hpp"
#include "sim/core/rng.hpp"
#include "support.hpp"

using namespace hetsim;
using namespace hetsim::calibrate;

namespace {
const Peaks kH100{989.4e12, 3.35e12};

/// Kernel times generated from known curves with +-`noise` relative jitter.
std::vector<Measurement> synthetic(const hw::Efficiency& truth, double noise, std::uint64_t seed) {
  Rng rng(seed, "test.synthetic");
  std::vector<Measurement> ms;
  for (int n : {4096, 14336, 28672})
    for (int m = 1; m <= 8192; m *= 2) {
      Measurement x;
      x.cls = OpClass::gemm;
      x.flops = 2.0 * m * n * 4096;
      x.bytes = 2.0 * (m * 4096.0 + 4096.0 * n + static_cast<double>(m) * n);
      x.seconds = predict(x, truth, kH100) * (1 + noise * (2 * rng.uniform() - 1));
      ms.push_back(x);
    }
  return ms;
}
}  // namespace

TEST_CASE("calibrate fit: recovers known efficiency curves from exact measurements", "[calibrate]") {
  hw::Efficiency truth;
  truth.compute = 0.72;
  truth.compute_half = 4e9;
  truth.memory = 0.85;
  truth.memory_half = 2e6;
  const auto fit = fit_class(synthetic(truth, 0.0, 1), kH100, hw::Efficiency{});
  REQUIRE(fit.has_compute);
  REQUIRE(fit.has_memory);
  CHECK(fit.efficiency.compute == Approx(0.72).epsilon(1e-6));
  CHECK(fit.efficiency.compute_half == Approx(4e9).epsilon(1e-4));
  CHECK(fit.efficiency.memory == Approx(0.85).epsilon(1e-6));
  CHECK(fit.efficiency.memory_half == Approx(2e6).epsilon(1e-3));
  CHECK(fit.held_out_error < 1e-9);
}

TEST_CASE("calibrate fit: noisy measurements give close curves and an honest held-out error", "[calibrate]") {
  hw::Efficiency truth;
  truth.compute = 0.65;
  truth.compute_half = 1e10;
  truth.memory = 0.8;
  truth.memory_half = 5e6;
  const auto fit = fit_class(synthetic(truth, 0.05, 7), kH100, hw::Efficiency{});
  CHECK(fit.efficiency.compute == Approx(0.65).epsilon(0.05));
  CHECK(fit.efficiency.memory == Approx(0.8).epsilon(0.05));
  CHECK(fit.held_out_error > 0.0);
  CHECK(fit.held_out_error < 0.05);  // +-5% uniform noise: median error ~2.5%
}

TEST_CASE("calibrate fit: a regime without measurements keeps the fallback", "[calibrate]") {
  hw::Efficiency fallback;
  fallback.compute = 0.5;
  std::vector<Measurement> ms;
  for (double b = 1e6; b < 1e10; b *= 3) ms.push_back({OpClass::elementwise, "x", "", DType::bf16, b / 10, b, (b + 1e5) / (3.35e12 * 0.7)});
  const auto fit = fit_class(ms, kH100, fallback);
  CHECK_FALSE(fit.has_compute);
  REQUIRE(fit.has_memory);
  CHECK(fit.efficiency.memory == Approx(0.7).epsilon(1e-6));
  CHECK(fit.efficiency.compute == 0.5);
}

TEST_CASE("calibrate profile: YAML round-trips and prices ops through the cost model", "[calibrate]") {
  hw::Profile p;
  p.name = "test-profile";
  p.device = "h100-sxm5-80gb";
  p.gpu = "NVIDIA H100 80GB HBM3";
  p.launch_overhead = 3e-6;
  hw::ClassFit gemm;
  gemm.has_compute = gemm.has_memory = true;
  gemm.efficiency.compute = 0.7;
  gemm.efficiency.compute_half = 2e9;
  gemm.efficiency.memory = 0.9;
  gemm.efficiency.memory_half = 1e6;
  gemm.held_out_error = 0.04;
  gemm.points = 42;
  p.classes[static_cast<std::size_t>(OpClass::gemm)] = gemm;
  test::TempDir dir("profile");
  const auto path = dir.write("test-profile.yaml", hw::profile_yaml(p));
  auto doc = config::Document::load_file(path);
  const auto back = hw::parse_profile(doc.root());
  doc.check_unknown_keys();
  const auto& g = *back.classes[static_cast<std::size_t>(OpClass::gemm)];
  CHECK(g.efficiency.compute == 0.7);
  CHECK(g.efficiency.compute_half == 2e9);
  CHECK(g.efficiency.memory_half == 1e6);
  CHECK(g.points == 42);
  CHECK(*back.launch_overhead == Approx(3e-6));
  CHECK_FALSE(back.classes[static_cast<std::size_t>(OpClass::attention_decode)].has_value());

  // A scenario device pointing at the profile file uses it for gemm only.
  auto scen = config::Document::load_string("device: {preset: h100-sxm5-80gb, profile: " + path + "}\n", dir.file("s.yaml"));
  auto layered = catalog::with_preset(scen.root(), "device", "hw/catalog");
  const auto device = hw::parse_device(layered.node);
  CHECK(device.eff(OpClass::gemm).compute_half == 2e9);
  CHECK(device.kernel_launch_overhead == Approx(3e-6));
  CHECK_THAT(device.efficiency_source, Catch::Contains("gemm: profile test-profile (held-out error 4.0%)") &&
                                           Catch::Contains("attention_prefill, attention_decode, elementwise, collective: catalog default"));
  Op op;
  op.cls = OpClass::gemm;
  op.flops = 1e12;
  op.weights.bytes = 1e8;
  const hw::CostModel cost(device);
  CHECK(cost.time(op) == Approx((1e12 + 2e9) / (989.4e12 * 0.7) + 3e-6));
  CHECK(cost.time(op) >= cost.roofline_bound(op));
}

TEST_CASE("calibrate command: --refit fits a raw CSV without a GPU", "[calibrate][e2e]") {
  test::TempDir dir("refit");
  hw::Efficiency truth;
  truth.compute = 0.7;
  truth.compute_half = 3e9;
  truth.memory = 0.82;
  truth.memory_half = 1e6;
  auto ms = synthetic(truth, 0.0, 3);
  for (auto& m : ms) m.kernel = "cublas_bf16", m.shape = "m=?";
  write_raw_csv(dir.file("m.raw.csv"), ms);
  // Pinned copies at 25 GB/s plus 10 us, exactly.
  std::string copies = "direction,bytes,seconds\n";
  for (double b = 4096; b <= 1 << 30; b *= 4)
    for (const char* d : {"h2d", "d2h"}) copies += fmt::format("{},{},{}\n", d, b, b / 25e9 + 10e-6);
  dir.write("m.copies.csv", copies);
  const auto r = test::run_hetsim("calibrate --device h100-sxm5-80gb --refit '" + dir.file("m.raw.csv") + "' --out '" +
                                  dir.file("my-h100.yaml") + "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("| gemm | 42 | 0.700"));
  auto doc = config::Document::load_file(dir.file("my-h100.yaml"));
  const auto profile = hw::parse_profile(doc.root());
  CHECK(profile.classes[0]->efficiency.memory == Approx(0.82));  // --refit fits the plain roofline (no --blend)
  REQUIRE(profile.h2d.has_value());
  CHECK(profile.h2d->bandwidth == Approx(25e9));
  CHECK(profile.d2h->latency == Approx(10e-6));
  CHECK_FALSE(profile.d2d.has_value());
  CHECK_THAT(r.output, Catch::Contains("H2D copies: 25.0 GB/s, 10.0 us latency"));
  CHECK(std::filesystem::exists(dir.file("my-h100.report.md")));
  // A run priced by the refitted profile says so in its summary.
  const auto run = test::run_hetsim(fmt::format("run '{}/scenarios/quickstart.yaml' --set workload.num_requests=20 --set "
                                                "'cluster.device.profile={}' --out '{}'",
                                                test::source_dir(), dir.file("my-h100.yaml"), dir.file("run")));
  INFO(run.output);
  CHECK(run.exit_code == 0);
  CHECK_THAT(run.output, Catch::Contains("gemm: profile my-h100"));
  // A malformed raw CSV names its line.
  dir.write("bad.csv", "op_class,kernel,dtype,shape,flops,bytes,seconds\ngemm,k,bf16,s,1,2,-3\n");
  const auto bad = test::run_hetsim("calibrate --device h100-sxm5-80gb --refit '" + dir.file("bad.csv") + "' --out '" +
                                    dir.file("x.yaml") + "'");
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.output, Catch::Contains("bad.csv:2: seconds = \"-3\""));
}

TEST_CASE("calibrate: every committed profile refits exactly from its committed raw CSV", "[calibrate]") {
  std::size_t checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(test::source_dir() + "/hw/profiles")) {
    if (entry.path().extension() != ".yaml") continue;
    auto doc = config::Document::load_file(entry.path().string());
    const auto committed = hw::parse_profile(doc.root());
    INFO(entry.path().string());
    REQUIRE_FALSE(committed.raw.empty());
    test::TempDir dir("refit_committed");
    std::string args;
    if (!committed.command.empty()) {
      // Imported from published measurements: rebuild from the shared data it names (a missing
      // data folder fails the import, not the test's attention).
      args = committed.command;
      const std::string rel = "../shared/data";
      for (std::size_t at = args.find(rel); at != std::string::npos; at = args.find(rel, at + test::shared_data().size()))
        args.replace(at, rel.size(), test::shared_data());
      // Measurements copied into the repo (hw/profiles/data/) are named from the repo root.
      const std::string in_repo = " hw/profiles/data/", at_source = " " + test::source_dir() + "/hw/profiles/data/";
      for (std::size_t at = args.find(in_repo); at != std::string::npos; at = args.find(in_repo, at + at_source.size()))
        args.replace(at, in_repo.size(), at_source);
    } else {
      const auto raw = (entry.path().parent_path() / committed.raw).string();
      REQUIRE(std::filesystem::exists(raw));
      args = fmt::format("calibrate --device {} --refit '{}'", committed.device, raw);
    }
    const auto r = test::run_hetsim(fmt::format("{} --out '{}'", args, dir.file(committed.name + ".yaml")));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    auto redoc = config::Document::load_file(dir.file(committed.name + ".yaml"));
    const auto refit = hw::parse_profile(redoc.root());
    for (std::size_t c = 0; c < kNumOpClasses; ++c) {
      REQUIRE(refit.classes[c].has_value() == committed.classes[c].has_value());
      if (!committed.classes[c]) continue;
      CHECK(refit.classes[c]->efficiency.compute == Approx(committed.classes[c]->efficiency.compute));
      CHECK(refit.classes[c]->efficiency.memory == Approx(committed.classes[c]->efficiency.memory));
      CHECK(refit.classes[c]->held_out_error == Approx(committed.classes[c]->held_out_error));
      CHECK(refit.classes[c]->efficiency.blend == committed.classes[c]->efficiency.blend);
    }
    REQUIRE(refit.collectives.size() == committed.collectives.size());
    for (std::size_t i = 0; i < committed.collectives.size(); ++i) {
      CHECK(refit.collectives[i].segments.size() == committed.collectives[i].segments.size());
      CHECK(refit.collectives[i].time(1 << 20) == Approx(committed.collectives[i].time(1 << 20)).epsilon(1e-6));
    }
    ++checked;
  }
  // No profile committed yet is a stated state, not a silent pass: the folder's README must say
  // so (and this check fails once a profile lands without the README being updated). The refit
  // of real measurements is checked on the in-repo Vidur fixture (vidur_fixture_test.cpp).
  const std::string readme = test::read_file(test::source_dir() + "/hw/profiles/README.md");
  REQUIRE_FALSE(readme.empty());
  INFO(checked << " committed profiles refitted");
  CHECK((checked > 0) != (readme.find("None is committed yet") != std::string::npos));
}

TEST_CASE("calibrate fit: per-op curves where one class holds kernels of different speeds", "[calibrate]") {
  // Two memory-bound elementwise ops of one class, one at 80% of bandwidth and one at 40%, measured
  // on three "models" (groups): one class curve cannot fit both, each op's own curve can.
  std::vector<Measurement> ms;
  for (const auto& [op, e_mem] : {std::pair{"fast_norm", 0.8}, std::pair{"slow_rope", 0.4}})
    for (const char* group : {"a", "b", "c"})
      for (double bytes = 1e5; bytes <= 1e9; bytes *= 3) {
        Measurement m;
        m.cls = OpClass::elementwise;
        m.op = op;
        m.group = group;
        m.bytes = bytes * (group[0] == 'b' ? 1.3 : 1.0);
        m.flops = m.bytes / 4;
        m.seconds = (m.bytes + 1e6) / (kH100.bandwidth * e_mem);
        ms.push_back(m);
      }
  std::vector<double> errors;
  hw::ClassFit fit = fit_class(ms, kH100, hw::Efficiency{}, false, &errors);
  REQUIRE(errors.size() == ms.size());
  CHECK(fit.held_out_error > 0.2);  // the class curve sits between the two
  const auto ops = fit_ops(ms, kH100, false, fit, errors);
  REQUIRE(ops.size() == 2);
  for (const auto& op : ops) {
    INFO(op.op);
    CHECK(op.fit.held_out_error < 1e-6);
    CHECK(op.fit.efficiency.memory == Approx(op.op == "fast_norm" ? 0.8 : 0.4).epsilon(1e-6));
  }
  REQUIRE(fit.held_out_error_with_ops.has_value());
  CHECK(*fit.held_out_error_with_ops < 1e-6);

  // The profile carries them, the device applies them, and the cost model prices each op by its own.
  hw::Profile p;
  p.name = "test";
  p.device = "h100-sxm5-80gb";
  p.classes[static_cast<std::size_t>(OpClass::elementwise)] = fit;
  p.ops = ops;
  auto doc = config::Document::load_string(hw::profile_yaml(p), "profile.yaml");
  const hw::Profile back = hw::parse_profile(doc.root());
  REQUIRE(back.ops.size() == 2);
  CHECK(back.ops[0].op == ops[0].op);
  CHECK(back.ops[0].fit.efficiency.memory == Approx(ops[0].fit.efficiency.memory));
  REQUIRE(back.classes[static_cast<std::size_t>(OpClass::elementwise)]->held_out_error_with_ops.has_value());
  hw::Device d = test::catalog_device("h100-sxm5-80gb");
  d.op_efficiency.clear();
  hw::apply_profile(back, d);
  const hw::CostModel cost(d);
  Op op;
  op.cls = OpClass::elementwise;
  op.activations.bytes = 1e8;
  op.flops = 1e3;
  op.name = "fast_norm";
  const double fast = cost.time(op) - d.kernel_launch_overhead;
  op.name = "slow_rope";
  const double slow = cost.time(op) - d.kernel_launch_overhead;
  op.name = "other";  // no curve of its own: the class's
  const double other = cost.time(op) - d.kernel_launch_overhead;
  CHECK(fast == Approx((1e8 + 1e6) / (d.memory().read_bandwidth * 0.8)).epsilon(1e-6));
  CHECK(slow == Approx(2 * fast).epsilon(1e-6));
  CHECK(other == Approx((1e8 + fit.efficiency.memory_half) / (d.memory().read_bandwidth * fit.efficiency.memory)).epsilon(1e-6));
  CHECK_THAT(d.eff(op).source, Catch::Contains("held-out"));
}
