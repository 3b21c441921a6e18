#include "kernels/reference.hpp"

#include <algorithm>
#include <cmath>

namespace hetsim::kernels {

void gemm_ref(int m, int n, int k, const float* a, const float* b, float* c) {
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double acc = 0;
      for (int p = 0; p < k; ++p) acc += static_cast<double>(a[i * k + p]) * b[p * n + j];
      c[i * n + j] = static_cast<float>(acc);
    }
}

void rmsnorm_ref(int rows, int dim, const float* x, const float* weight, float eps, float* out) {
  for (int r = 0; r < rows; ++r) {
    double ss = 0;
    for (int i = 0; i < dim; ++i) ss += static_cast<double>(x[r * dim + i]) * x[r * dim + i];
    const double scale = 1.0 / std::sqrt(ss / dim + eps);
    for (int i = 0; i < dim; ++i) out[r * dim + i] = static_cast<float>(x[r * dim + i] * scale * weight[i]);
  }
}

void silu_mul_ref(int rows, int dim, const float* gate_up, float* out) {
  for (int r = 0; r < rows; ++r)
    for (int i = 0; i < dim; ++i) {
      const double g = gate_up[r * 2 * dim + i];
      out[r * dim + i] = static_cast<float>(g / (1.0 + std::exp(-g)) * gate_up[r * 2 * dim + dim + i]);
    }
}

namespace {
/// softmax(q . k_j / sqrt(D)) v over keys j in [0, n), keys fetched by `key_row(j)`.
template <class KeyRow>
void attend(const float* q, int n, int head_dim, KeyRow key_row, float* out) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  std::vector<double> score(static_cast<std::size_t>(n));
  double max_score = -1e300;
  for (int j = 0; j < n; ++j) {
    const auto [k, v] = key_row(j);
    (void)v;
    double dot = 0;
    for (int d = 0; d < head_dim; ++d) dot += static_cast<double>(q[d]) * k[d];
    score[static_cast<std::size_t>(j)] = dot * scale;
    max_score = std::max(max_score, dot * scale);
  }
  double denom = 0;
  std::vector<double> acc(static_cast<std::size_t>(head_dim), 0.0);
  for (int j = 0; j < n; ++j) {
    const double p = std::exp(score[static_cast<std::size_t>(j)] - max_score);
    denom += p;
    const auto [k, v] = key_row(j);
    (void)k;
    for (int d = 0; d < head_dim; ++d) acc[static_cast<std::size_t>(d)] += p * v[d];
  }
  for (int d = 0; d < head_dim; ++d) out[d] = static_cast<float>(acc[static_cast<std::size_t>(d)] / denom);
}
}  // namespace

void attention_prefill_ref(int tokens, int context_before, int heads, int kv_heads, int head_dim, const float* q,
                           const float* k, const float* v, float* out) {
  const int group = heads / kv_heads;
  for (int t = 0; t < tokens; ++t)
    for (int h = 0; h < heads; ++h) {
      const int kvh = h / group;
      auto row = [&](int j) {
        const std::size_t off = (static_cast<std::size_t>(j) * kv_heads + kvh) * head_dim;
        return std::pair<const float*, const float*>{k + off, v + off};
      };
      const std::size_t qo = (static_cast<std::size_t>(t) * heads + h) * head_dim;
      attend(q + qo, context_before + t + 1, head_dim, row, out + qo);  // causal: keys up to own position
    }
}

void paged_decode_attention_ref(int seqs, int heads, int kv_heads, int head_dim, int block_size, int max_blocks,
                                const float* q, const float* k_cache, const float* v_cache, const std::int32_t* block_tables,
                                const std::int32_t* context_lens, float* out) {
  const int group = heads / kv_heads;
  for (int s = 0; s < seqs; ++s)
    for (int h = 0; h < heads; ++h) {
      const int kvh = h / group;
      auto row = [&](int j) {
        const std::int32_t block = block_tables[s * max_blocks + j / block_size];
        const std::size_t off = ((static_cast<std::size_t>(block) * block_size + j % block_size) * kv_heads + kvh) * head_dim;
        return std::pair<const float*, const float*>{k_cache + off, v_cache + off};
      };
      const std::size_t qo = (static_cast<std::size_t>(s) * heads + h) * head_dim;
      attend(q + qo, context_lens[s], head_dim, row, out + qo);
    }
}

}  // namespace hetsim::kernels
