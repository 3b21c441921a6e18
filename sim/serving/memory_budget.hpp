#pragma once
// Device memory of one serving replica as the engine accounts for it before sizing its KV cache
// (vLLM V1, vllm/v1/worker/gpu_worker.py determine_available_memory), per device of the replica's
// tensor-parallel group:
//
//   KV = usable x gpu_memory_utilization - weights - activation peak - non-torch - CUDA-graph pool
//
//   usable      what the driver reports as the device's total (hw::Device::usable_memory; CUDA's
//               cudaMemGetInfo, vLLM's total_gpu_memory), not the datasheet figure
//   weights     the model's weights held by one device (models::ModelSpec::weight_bytes_per_device)
//   activation  the peak of the engine's profile run over the largest step (activation_peak below)
//   non-torch   memory outside PyTorch's allocator that grows while profiling: cuBLAS workspace,
//               NCCL and all-reduce buffers (hw::ServingStack::non_torch_for, by TP degree)
//   graphs      CUDA-graph memory, when the stack sizes it before the KV cache (hw::ServingStack::graph_pool)
//
// The CUDA context is not a term: vLLM measures from a baseline taken after creating it, so it lives
// in the (1 - utilization) headroom. The KV manager applies gpu_memory_utilization and the user's
// overrides (policies/kv_cache/paged.cpp: activation_reserve, kv_cache_memory).
#include "hw/device.hpp"
#include "hw/serving_stack.hpp"
#include "models/model.hpp"
#include "sim/serving/kv_manager.hpp"
#include "sim/serving/scheduler.hpp"

namespace hetsim::serving {

/// Activation memory of the largest step on one device, in the two phases that can peak.
struct ActivationPeak {
  double forward = 0;  ///< the largest sublayer's live tensors in the model's forward pass
  double sampler = 0;  ///< the sampler's working set on the step's logits, beside the step's hidden states
  double peak() const { return forward > sampler ? forward : sampler; }
};

/// The activation peak of a step of `step.tokens` tokens from `step.sequences` sequences of
/// `model` at tensor-parallel degree `tp` (a documented estimate, checked against vLLM's logged peaks
/// in validation/cases.yaml, level memory):
///   forward = T x max(2h + 3i/tp, 2h + (2q + 2kv)/tp) x b: the residual stream and the normed input
///             beside the MLP's gate/up output and its SiLU-mul product, or the attention's q/k/v
///             projection and output (h hidden, i intermediate, q and kv the query and KV widths, b the
///             activation bytes);
///   sampler = min(S, T) x vocab x sampler_bytes_per_logit + T x h x b: the logits of one token per
///             sequence (vLLM's profile run samples min(max_num_seqs, tokens) rows; the vocabulary is
///             whole on the rank that samples) beside the step's hidden states, which the profile run
///             holds while sampling (vllm/v1/worker/gpu_model_runner.py profile_run).
ActivationPeak activation_peak(const models::ModelSpec& model, int tp, policies::StepLimits step,
                               double sampler_bytes_per_logit);

/// What a replica's KV manager sizes its cache from: the terms above for one device of `device`
/// running `model` at degree `tp` under `stack`, the scheduler's largest step `step`, and the weights
/// in device memory or not (`serving.weights: storage`).
policies::KvSizing kv_sizing(const hw::Device& device, const models::ModelSpec& model, const hw::ServingStack& stack,
                             int tp, policies::StepLimits step, bool weights_in_device_memory);

}  // namespace hetsim::serving
