#pragma once
// The serving engine being simulated (vLLM, TensorRT-LLM, an eager PyTorch server, ...): the host
// work each step costs besides the GPU's kernels, whether kernel launches are replayed from CUDA
// graphs, and which attention kernels it runs. Presets live in hw/stacks/NAME.yaml (every figure
// with its source), chosen with `serving.stack`; the default is vLLM V1.
//
// A step of the instance then takes
//   host = step_overhead + per_sequence * sequences + per_prefill_token * prompt tokens
//   gpu  = sum over ops of repeat * max(kernel time + device launch gap, kernels * launch)
//          (launch = 0 when the step replays a CUDA graph: the host does not dispatch kernels)
//   step = overlap_host ? max(host, gpu) : host + gpu
// where the per-op max says that an eager host dispatching kernels slower than the GPU runs them
// starves the GPU (small decode batches), and the GPU hides the host otherwise.
//
// The stack also says what device memory it takes besides weights, activations and KV (its
// `memory:` section), which the KV budget subtracts (sim/serving/memory_budget.hpp).
#include <cstdint>
#include <map>
#include <map>
#include <optional>
#include <string>

#include "hw/device.hpp"
#include "sim/core/config.hpp"

namespace hetsim::hw {

struct ServingStack {
  std::string name;            ///< preset name, e.g. "vllm-v1"
  std::string description;
  double step_overhead = 0;    ///< host seconds per step: scheduling, input preparation, sampling, output processing
  double per_sequence = 0;     ///< host seconds per sequence in the step
  double per_prefill_token = 0;  ///< host seconds per prompt token fed in the step
  double launch = 0;           ///< host seconds to dispatch one kernel eagerly (Python + CUDA launch)
  /// CUDA graphs: steps of at most `graph_max_tokens` tokens (and, with `graph_decode_only`, no
  /// prompt tokens) replay captured graphs and pay no per-kernel dispatch.
  bool cuda_graphs = false;
  bool graph_decode_only = true;
  std::int64_t graph_max_tokens = 0;
  bool overlap_host = false;   ///< host work of the next step overlaps this step's GPU work
  /// Attention kernels of the stack (FlashAttention, FlashInfer, paged attention): their
  /// efficiency curves replace the device's for these classes when given.
  std::optional<Efficiency> attention_prefill, attention_decode;
  /// Curves measured on one device (`attention.devices.NAME`), in place of the generic ones there.
  struct DeviceAttention {
    std::optional<Efficiency> prefill, decode;
  };
  std::map<std::string, DeviceAttention> attention_by_device;
  std::string attention_kernels;  ///< which kernels those curves describe
  /// Memory outside PyTorch's allocator that the engine's profile run sees grow, per device, by
  /// tensor-parallel degree (vLLM's "non-torch memory": cuBLAS workspace, NCCL and all-reduce
  /// buffers); a degree not listed takes the largest listed one below it. Empty = none.
  std::map<int, double> non_torch;
  /// CUDA-graph memory taken out of the budget before the KV cache is sized (0 when the engine
  /// captures its graphs after sizing it, inside the headroom that gpu_memory_utilization leaves).
  double graph_pool = 0;
  /// Peak bytes per logit element while the sampler runs on the largest step's logits (fp32 logits
  /// alone: 4; a sampler that sorts for top-k/top-p holds several copies).
  double sampler_bytes_per_logit = 4;

  /// Whether a step with these token counts replays a CUDA graph.
  bool graphed(std::int64_t tokens, std::int64_t prefill_tokens) const {
    return cuda_graphs && tokens <= graph_max_tokens && (!graph_decode_only || prefill_tokens == 0);
  }
  /// Host seconds of a step (not the GPU's).
  double host_time(std::int64_t sequences, std::int64_t prefill_tokens) const {
    return step_overhead + per_sequence * static_cast<double>(sequences) + per_prefill_token * static_cast<double>(prefill_tokens);
  }
  /// The step's time from its host and GPU parts.
  double step_time(double host, double gpu) const { return overlap_host ? (host > gpu ? host : gpu) : host + gpu; }
  /// The device with the stack's attention curves in place of the device's own.
  Device apply(const Device& device) const;
  /// Non-torch memory of each device of a tensor-parallel group of `tp` devices.
  double non_torch_for(int tp) const;
};

/// Reads a stack from a (possibly layered) config node; validates every value.
ServingStack parse_serving_stack(const config::Node& node);

}  // namespace hetsim::hw
