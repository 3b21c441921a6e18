#pragma once
// CPU reference implementations of the calibration kernels (kernels/*.cu), in float. They define
// what each CUDA kernel must compute; tests check the CUDA kernels against them on a GPU, and
// check the references themselves against brute-force formulas everywhere.
//
// Layouts (row-major): GEMM A[M][K], B[K][N], C[M][N]. Attention q[T][H][D]; dense k/v[S][KVH][D];
// paged caches [num_blocks][block_size][KVH][D] with block_tables[seq][max_blocks]. Query head h
// reads KV head h / (H / KVH) (grouped-query attention).
#include <cstdint>
#include <vector>

namespace hetsim::kernels {

void gemm_ref(int m, int n, int k, const float* a, const float* b, float* c);
void rmsnorm_ref(int rows, int dim, const float* x, const float* weight, float eps, float* out);
/// out[r][i] = silu(gate_up[r][i]) * gate_up[r][dim + i]
void silu_mul_ref(int rows, int dim, const float* gate_up, float* out);

/// Causal attention of `tokens` new queries at positions context_before .. context_before+tokens-1
/// over dense k/v holding context_before + tokens positions.
void attention_prefill_ref(int tokens, int context_before, int heads, int kv_heads, int head_dim, const float* q,
                           const float* k, const float* v, float* out);

/// One query per sequence over its paged KV (context_lens[s] tokens, the new one included).
void paged_decode_attention_ref(int seqs, int heads, int kv_heads, int head_dim, int block_size, int max_blocks,
                                const float* q, const float* k_cache, const float* v_cache, const std::int32_t* block_tables,
                                const std::int32_t* context_lens, float* out);

}  // namespace hetsim::kernels
