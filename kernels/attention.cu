// Causal GQA prefill attention and paged decode attention. One warp per (query, head): lanes split
// the head dimension, keys are visited in order with an online (streaming) softmax, so memory use
// does not grow with the context. Straightforward rather than FlashAttention-fast; calibration
// measures what these kernels achieve.
#include "kernels/cuda_util.cuh"
#include "kernels/kernels.cuh"

namespace hetsim::kernels {
namespace {

constexpr int kMaxDimPerLane = 8;  // head_dim <= 256

/// Streams keys [0, n) for one query held by the warp; key_row(j) gives the K and V rows.
template <class KeyRow>
__device__ void warp_attend(const __nv_bfloat16* q, int n, int head_dim, KeyRow key_row, __nv_bfloat16* out) {
  const int lane = threadIdx.x % 32;
  const int per_lane = (head_dim + 31) / 32;
  float qv[kMaxDimPerLane], acc[kMaxDimPerLane];
  for (int e = 0; e < per_lane; ++e) {
    const int d = lane + 32 * e;
    qv[e] = d < head_dim ? __bfloat162float(q[d]) : 0.0f;
    acc[e] = 0.0f;
  }
  const float scale = rsqrtf(static_cast<float>(head_dim));
  float running_max = -INFINITY, denom = 0.0f;
  for (int j = 0; j < n; ++j) {
    const __nv_bfloat16* k;
    const __nv_bfloat16* v;
    key_row(j, k, v);
    float dot = 0.0f;
    for (int e = 0; e < per_lane; ++e) {
      const int d = lane + 32 * e;
      if (d < head_dim) dot += qv[e] * __bfloat162float(k[d]);
    }
    for (int offset = 16; offset > 0; offset /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, offset);
    const float s = dot * scale;
    const float new_max = fmaxf(running_max, s);
    const float correction = __expf(running_max - new_max);
    const float p = __expf(s - new_max);
    denom = denom * correction + p;
    for (int e = 0; e < per_lane; ++e) {
      const int d = lane + 32 * e;
      acc[e] = acc[e] * correction + (d < head_dim ? p * __bfloat162float(v[d]) : 0.0f);
    }
    running_max = new_max;
  }
  for (int e = 0; e < per_lane; ++e) {
    const int d = lane + 32 * e;
    if (d < head_dim) out[d] = __float2bfloat16(acc[e] / denom);
  }
}

__global__ void prefill_kernel(int tokens, int context_before, int heads, int kv_heads, int head_dim, const __nv_bfloat16* q,
                               const __nv_bfloat16* k, const __nv_bfloat16* v, __nv_bfloat16* out) {
  const int warp = (blockIdx.x * blockDim.x + threadIdx.x) / 32;
  if (warp >= tokens * heads) return;
  const int t = warp / heads, h = warp % heads;
  const int kvh = h / (heads / kv_heads);
  auto row = [&](int j, const __nv_bfloat16*& kr, const __nv_bfloat16*& vr) {
    const size_t off = (static_cast<size_t>(j) * kv_heads + kvh) * head_dim;
    kr = k + off;
    vr = v + off;
  };
  const size_t qo = (static_cast<size_t>(t) * heads + h) * head_dim;
  warp_attend(q + qo, context_before + t + 1, head_dim, row, out + qo);
}

__global__ void paged_decode_kernel(int seqs, int heads, int kv_heads, int head_dim, int block_size, int max_blocks,
                                    const __nv_bfloat16* q, const __nv_bfloat16* k_cache, const __nv_bfloat16* v_cache,
                                    const std::int32_t* block_tables, const std::int32_t* context_lens, __nv_bfloat16* out) {
  const int warp = (blockIdx.x * blockDim.x + threadIdx.x) / 32;
  if (warp >= seqs * heads) return;
  const int s = warp / heads, h = warp % heads;
  const int kvh = h / (heads / kv_heads);
  auto row = [&](int j, const __nv_bfloat16*& kr, const __nv_bfloat16*& vr) {
    const std::int32_t block = block_tables[s * max_blocks + j / block_size];
    const size_t off = ((static_cast<size_t>(block) * block_size + j % block_size) * kv_heads + kvh) * head_dim;
    kr = k_cache + off;
    vr = v_cache + off;
  };
  const size_t qo = (static_cast<size_t>(s) * heads + h) * head_dim;
  warp_attend(q + qo, context_lens[s], head_dim, row, out + qo);
}

void check_shape(int heads, int kv_heads, int head_dim) {
  if (head_dim > 32 * kMaxDimPerLane || heads % kv_heads != 0)
    throw std::runtime_error("attention kernel: head_dim must be <= 256 and kv_heads must divide heads");
}

}  // namespace

void launch_attention_prefill(int tokens, int context_before, int heads, int kv_heads, int head_dim, const __nv_bfloat16* q,
                              const __nv_bfloat16* k, const __nv_bfloat16* v, __nv_bfloat16* out) {
  check_shape(heads, kv_heads, head_dim);
  const long warps = static_cast<long>(tokens) * heads;
  prefill_kernel<<<static_cast<unsigned>((warps * 32 + 127) / 128), 128>>>(tokens, context_before, heads, kv_heads, head_dim,
                                                                           q, k, v, out);
  HETSIM_CUDA_CHECK(cudaGetLastError());
}

void launch_paged_decode_attention(int seqs, int heads, int kv_heads, int head_dim, int block_size, int max_blocks,
                                   const __nv_bfloat16* q, const __nv_bfloat16* k_cache, const __nv_bfloat16* v_cache,
                                   const std::int32_t* block_tables, const std::int32_t* context_lens, __nv_bfloat16* out) {
  check_shape(heads, kv_heads, head_dim);
  const long warps = static_cast<long>(seqs) * heads;
  paged_decode_kernel<<<static_cast<unsigned>((warps * 32 + 127) / 128), 128>>>(
      seqs, heads, kv_heads, head_dim, block_size, max_blocks, q, k_cache, v_cache, block_tables, context_lens, out);
  HETSIM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace hetsim::kernels
