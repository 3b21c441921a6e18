// The CPU reference kernels against brute-force formulas (CUDA kernels are checked against these
// references in cuda_kernels_test.cpp, on a GPU).
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "kernels/reference.hpp"
#include "sim/core/rng.hpp"

using namespace hetsim;

namespace {
std::vector<float> random_vector(std::size_t n, std::uint64_t seed) {
  Rng rng(seed, "test.kernels");
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(2 * rng.uniform() - 1);
  return v;
}
}  // namespace

TEST_CASE("kernel references: paged decode equals dense attention of the last position", "[kernels]") {
  constexpr int heads = 8, kv_heads = 2, d = 16, block = 4, context = 23;
  const int blocks = (context + block - 1) / block;
  const auto k = random_vector(static_cast<std::size_t>(context) * kv_heads * d, 1);
  const auto v = random_vector(static_cast<std::size_t>(context) * kv_heads * d, 2);
  const auto q = random_vector(static_cast<std::size_t>(heads) * d, 3);
  // Dense: one new token at position context-1 attending to all `context` keys.
  std::vector<float> dense(q.size());
  kernels::attention_prefill_ref(1, context - 1, heads, kv_heads, d, q.data(), k.data(), v.data(), dense.data());
  // Paged: the same KV scattered over a shuffled block table.
  std::vector<std::int32_t> table = {4, 0, 5, 2, 1, 3};
  REQUIRE(static_cast<int>(table.size()) == blocks);
  std::vector<float> kc(static_cast<std::size_t>(blocks) * block * kv_heads * d), vc(kc.size());
  for (int j = 0; j < context; ++j)
    for (int x = 0; x < kv_heads * d; ++x) {
      const std::size_t dst = (static_cast<std::size_t>(table[j / block]) * block + j % block) * kv_heads * d + x;
      kc[dst] = k[static_cast<std::size_t>(j) * kv_heads * d + x];
      vc[dst] = v[static_cast<std::size_t>(j) * kv_heads * d + x];
    }
  std::vector<float> paged(q.size());
  const std::int32_t len = context;
  kernels::paged_decode_attention_ref(1, heads, kv_heads, d, block, blocks, q.data(), kc.data(), vc.data(), table.data(), &len,
                                      paged.data());
  for (std::size_t i = 0; i < q.size(); ++i) CHECK(paged[i] == Approx(dense[i]).margin(1e-6));
}

TEST_CASE("kernel references: causal prefill matches an explicit softmax", "[kernels]") {
  constexpr int heads = 4, kv_heads = 2, d = 8, tokens = 5, before = 3;
  const auto q = random_vector(tokens * heads * d, 4);
  const auto k = random_vector((before + tokens) * kv_heads * d, 5);
  const auto v = random_vector((before + tokens) * kv_heads * d, 6);
  std::vector<float> out(q.size());
  kernels::attention_prefill_ref(tokens, before, heads, kv_heads, d, q.data(), k.data(), v.data(), out.data());
  // Token 2, head 3 (KV head 1) sees keys 0 .. before + 2.
  const int t = 2, h = 3, kvh = 1, n = before + t + 1;
  std::vector<double> w(n);
  double sum = 0;
  for (int j = 0; j < n; ++j) {
    double dot = 0;
    for (int x = 0; x < d; ++x) dot += q[(t * heads + h) * d + x] * k[(j * kv_heads + kvh) * d + x];
    w[j] = std::exp(dot / std::sqrt(static_cast<double>(d)));
    sum += w[j];
  }
  for (int x = 0; x < d; ++x) {
    double expect = 0;
    for (int j = 0; j < n; ++j) expect += w[j] / sum * v[(j * kv_heads + kvh) * d + x];
    CHECK(out[(t * heads + h) * d + x] == Approx(expect).margin(1e-6));
  }
}

TEST_CASE("kernel references: GEMM, RMSNorm and SiLU-mul", "[kernels]") {
  const std::vector<float> a = {1, 2, 3, 4, 5, 6}, b = {7, 8, 9, 10, 11, 12};  // 2x3 times 3x2
  std::vector<float> c(4);
  kernels::gemm_ref(2, 2, 3, a.data(), b.data(), c.data());
  CHECK(c == std::vector<float>{58, 64, 139, 154});
  const std::vector<float> x = {3, 4}, w = {1, 2};
  std::vector<float> y(2);
  kernels::rmsnorm_ref(1, 2, x.data(), w.data(), 0.0f, y.data());
  CHECK(y[0] == Approx(3 / std::sqrt(12.5)));
  CHECK(y[1] == Approx(8 / std::sqrt(12.5)));
  const std::vector<float> gu = {0.0f, 2.0f, 5.0f, 7.0f};  // gate [0, 2], up [5, 7]
  std::vector<float> act(2);
  kernels::silu_mul_ref(1, 2, gu.data(), act.data());
  CHECK(act[0] == Approx(0.0));
  CHECK(act[1] == Approx(2 / (1 + std::exp(-2.0)) * 7));
}
