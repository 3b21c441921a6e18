#pragma once
// Op offload (pool key `offload`): one serving instance spans its GPUs and offload devices that run
// some of each step's op classes, the rest staying on the GPUs. The seed systems differ in where
// the offloaded ops run and how the two sides are joined (one policy file each in
// policies/offload/): decode attention on memory-optimised GPUs over the network (Lamina), on the
// host CPU with KV in host DRAM over PCIe (NEO), on processing-in-memory at its internal bandwidth
// (Duplex, AiM), in computational storage at its flash's internal bandwidth (InstInfer); or nowhere,
// the KV only stored there and streamed to the GPU's attention each step (FlexGen's SSD offload).
// The KV cache lives on the offload devices, so the GPUs hold weights and activations only.
//
// A step of L layers, per TP rank of the instance (every rank has its own link to the offload side):
//   G  the GPU ops (everything not offloaded), priced on the GPU as usual
//   A  the offloaded ops, priced on the offload device with the instance's whole attention split
//      over `count` devices (each op scaled by tp / count)
//   X  per layer, the activations crossing the link: to the offload side the new tokens' K/V (every
//      token's KV is written there) and the queries of each offloaded phase, back their attention
//      outputs; a phase whose attention stays on the GPU reads the KV it attends to from there
//      (chunked prefill's cached context; with no op offloaded, every step's whole KV, as FlexGen
//      streams it from an SSD); each direction bytes / bandwidth + latency
// Without pipelining the step is G + A + X. With `pipelining: ping_pong` (Lamina's rotational
// pipelining, NEO's asymmetric pipelining: two sub-batches, one in attention while the other is
// in the GPU's layers) each sub-batch of 1/n of the batch is priced on its own (a GEMM of half the
// tokens reads all the weights again) and a layer takes one period
//   period = max(n g, n a, n x_bytes_to, n x_bytes_back, g + x_to + a + x_back)
// (g, a, x: one sub-batch's per-layer GPU, offload and link times), the step L periods plus the
// pipeline's fill (n - 1) g; the runtime keeps whichever of the pipelined and plain orders is
// faster for the step (a step with fewer sequences than sub-batches cannot be split).
#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hw/device.hpp"
#include "models/batch.hpp"
#include "models/model.hpp"
#include "sim/core/op.hpp"

namespace hetsim::serving {

enum class OffloadPipelining { none, ping_pong };

/// Which host-side parts of one step run on the GPU with their weights copied over the link.
struct StreamChoice {
  bool layers = false;  ///< the host layers' weighted ops (and the host-resident experts of GPU layers)
  bool output = false;  ///< the final norm and LM head, when they live on the host
  bool operator==(const StreamChoice&) const = default;
};

/// Placement by layer range (offload impl `layers`: llama.cpp's -ngl and --n-cpu-moe, Hugging Face Accelerate's
/// device_map with CPU layers). The host device runs the first L - gpu_layers decoder layers from
/// its own memory, their KV cache there too, and the GPU the last gpu_layers; the token embedding
/// stays on the host (llama.cpp keeps it there: a row gather) and the final norm and LM head run on
/// the GPU only with output_on_gpu (llama.cpp: -ngl above the layer count). A step runs the two
/// sides one after the other, the hidden state crossing the link at each change of side. Steps of
/// at least `stream_at` tokens run the host layers' weighted ops on the GPU instead, each layer's
/// weights copied over the link first (llama.cpp offloads a host-weight op to the GPU from a batch
/// of 32; Accelerate always does, stream_at 1); their attention stays with the KV on the host, so the
/// layer's activations cross twice more. With `stream_at: auto` each step makes that choice by
/// cost instead, separately for the host layers and the output layer: whichever is faster, the
/// host computing from its memory, or the weights copied over the link and the GPU computing
/// (Fiddler's per-step CPU-or-GPU choice for host-resident experts by their token count, arXiv
/// 2402.07033, applied to whole layers). An MoE model's routed experts of the first
/// host_expert_layers layers also run on the host (llama.cpp's --n-cpu-moe, KTransformers): a GPU
/// layer among them sends its tokens' hidden states down to the experts and gets their output back.
struct LayerSplit {
  int total_layers = 0;  ///< the model's decoder layers
  int gpu_layers = 0;
  bool output_on_gpu = false;
  std::int64_t stream_at = 0;  ///< 0: never stream (unless stream_by_cost)
  bool stream_by_cost = false;  ///< stream_at: auto, each step's choice the faster (StepPricer)
  /// MoE models: the leading layers with a dense MLP (all layers of a dense model), and the layers
  /// whose routed experts run on the host wherever the rest of the layer runs: the first
  /// host_expert_layers (llama.cpp's --n-cpu-moe) and every host layer.
  int dense_layers = 0;
  int host_expert_layers = 0;
  int host_layers() const { return total_layers - gpu_layers; }
  /// MoE layers among the first `n` layers.
  int moe_among_first(int n) const { return std::max(0, std::min(n, total_layers) - dense_layers); }
  /// MoE layers whose routed experts run on the host.
  int host_expert_moe_layers() const { return moe_among_first(std::max(host_layers(), host_expert_layers)); }
  /// GPU layers whose routed experts run on the host: their hidden state goes down and back up.
  int experts_apart() const { return host_expert_moe_layers() - moe_among_first(host_layers()); }
  /// Whether ops of `tokens` tokens on the host side run on the GPU, their weights streamed to it.
  bool streams(std::int64_t tokens) const { return stream_at > 0 && tokens >= stream_at; }
  /// What a step could copy to the GPU: host layers' weights (or the host experts of GPU layers),
  /// and a host-side output layer; and whether this split ever copies any of it.
  bool has_host_layers() const { return host_layers() > 0 || experts_apart() > 0; }
  bool may_stream() const { return (stream_at > 0 || stream_by_cost) && (has_host_layers() || !output_on_gpu); }
  /// The choice a fixed threshold makes for `batch` (stream_at; not stream_by_cost).
  StreamChoice threshold_choice(const models::BatchShape& batch) const {
    return {.layers = streams(batch.tokens()), .output = streams(batch.logit_tokens)};
  }
};

/// Where the routed experts of an MoE model run (offload key `experts`; only with PIM in the GPUs'
/// own memory, where their weights are): on the GPUs; in the PIM in decode-only steps (Duplex); or
/// split every step, the experts with the fewest tokens in the PIM while the GPUs run the rest at
/// the same time (Duplex+PE, sim/serving/expert_split.hpp).
enum class ExpertsOn { gpu, offload_in_decode, co_process };

/// Where one instance's offloaded ops run and how they are joined to its GPUs.
struct OffloadPlan {
  std::string policy;                          ///< the policy's impl name
  std::shared_ptr<const hw::Device> device;    ///< the offload device
  int count = 1;                               ///< offload devices per instance (its attention split over them)
  std::array<bool, kNumOpClasses> classes{};   ///< op classes that run there
  hw::LinkSpec link;                           ///< between each GPU of the instance and the offload side, per direction
  /// The direction back to the GPUs where it differs (a drive reads faster than it writes): bytes/s,
  /// 0 = link.bandwidth. Set for link: platform, from the route each way.
  double back_bandwidth = 0;
  double bandwidth_back() const { return back_bandwidth > 0 ? back_bandwidth : link.bandwidth; }
  /// Seconds of link time for `out` bytes to the offload side and `back` bytes from it (no latency).
  double link_seconds(double out, double back) const {
    return back_bandwidth > 0 ? out / link.bandwidth + back / back_bandwidth : (out + back) / link.bandwidth;
  }
  std::string link_source;                     ///< where `link` comes from (for the summary)
  /// `link: platform`: each step's link bytes run as flows on the platform, from each GPU to a tier
  /// of its node (the host DRAM, a drive), contending with every other transfer there (other
  /// instances' offload traffic, KV copies), and the offloaded ops run on one engine per tier,
  /// shared; `link` is then that route on an idle node (set per replica when placed).
  bool on_platform = false;
  /// With on_platform: the node tier the offload side is, a tier name or a kind (the nearest of it).
  std::string platform_tier;
  OffloadPipelining pipelining = OffloadPipelining::none;
  int sub_batches = 2;                         ///< ping_pong: sub-batches in flight
  double kv_memory = 0;                        ///< bytes of KV cache the offload side holds for the instance (layers: its weights and KV)
  double cost_per_hour = 0;                    ///< of all `count` offload devices; 0 = unknown
  /// Sparse decode attention (`sparse_attention`: InstInfer's SparF, SparQ): the fractions of the
  /// attended KV it reads and of the dense FLOPs it computes, wherever decode attention runs.
  double kv_read_fraction = 1.0;
  double attention_compute_fraction = 1.0;
  /// NEO's GPU-resident KV (`gpu_kv: true`): each GPU also keeps the KV its own memory leaves room
  /// for, filled first, and runs that share of decode attention itself; in tokens per rank (set
  /// once the GPU's KV budget is known).
  bool gpu_kv = false;
  double gpu_kv_tokens = 0;
  /// Share of a step's KV that is GPU-resident: its decode attention runs on the GPUs, and its
  /// traffic never crosses the link (the batch's contexts, the GPU's budget filled first).
  double gpu_attention_share(const models::BatchShape& batch) const {
    const double context = batch.decode_context_tokens + batch.prefill_kv_read_tokens;
    if (!gpu_kv || context <= 0) return 0;
    return std::min(1.0, gpu_kv_tokens / context);
  }

  /// The offload devices are the GPUs' own memory (Duplex's Logic-PIM in each HBM stack): the KV
  /// cache and the weights stay in the GPUs' memory, nothing crosses a link, and `count` counts
  /// the instance's stacks (per GPU x tp).
  bool in_gpu_memory = false;
  ExpertsOn experts = ExpertsOn::gpu;
  /// Placement by layer range (impl layers): set instead of op classes.
  std::optional<LayerSplit> layers;

  bool offloads(OpClass c) const { return classes[static_cast<std::size_t>(c)]; }
  /// "2 x h20-96gb (attention_decode; lamina, ping_pong)", for the fleet line.
  std::string describe() const;
};

/// The times one step's parts take (seconds), as the combination above uses them.
struct OffloadParts {
  double gpu = 0;      ///< G: ops on the instance's GPUs
  double offload = 0;  ///< A: ops on the offload devices
  /// C: phases where both sides work at once (co-processed experts), their longer side; and the
  /// offload side's busy time within them.
  double both = 0, both_offload = 0;
};

/// Bytes crossing one rank's link in one step, all layers.
struct OffloadTraffic {
  double to_offload = 0;
  double from_offload = 0;
};

/// The link traffic of `batch` for a rank of a degree-`tp` instance of `model` (see the header comment);
/// with GPU-resident KV, only the rest of decode attention crosses (`gpu_share`: its share on the GPUs).
OffloadTraffic offload_traffic(const OffloadPlan& plan, const models::ModelSpec& model, int tp, const models::BatchShape& batch,
                               double gpu_share = 0);

/// The link traffic of one step of a layer range split: bytes and the crossings (each pays the
/// link's latency) of the hidden state between the sides, and of streamed host layers' activations.
/// The weights streamed with them are the pricer's (it knows the ops).
struct LayerSplitTraffic {
  double bytes = 0;
  double to_host = 0;  ///< of `bytes`, those going down to the host (the rest come up to the GPU)
  double crossings = 0;
};
LayerSplitTraffic layer_split_traffic(const LayerSplit& split, const models::ModelSpec& model, const models::BatchShape& batch,
                                      StreamChoice streamed);

/// The device time of a step, and how it was made: G + A + C + X without pipelining; with it, the
/// faster of that and the pipelined period model, given the parts of the whole batch and of one
/// sub-batch. `link` is X of the plain order (what link: platform runs as flows instead).
struct OffloadStep {
  double seconds = 0;
  double link = 0;
  bool pipelined = false;  ///< the pipelined order was the faster
};
OffloadStep offload_step_time(const OffloadPlan& plan, double layers, const OffloadParts& whole, const OffloadTraffic& whole_traffic,
                              const OffloadParts& sub, const OffloadTraffic& sub_traffic, bool can_split);

}  // namespace hetsim::serving

namespace hetsim::policies {

/// An op offload policy (pool key offload.impl), one file each in policies/offload/: it says where
/// the offloaded ops go by default (device, count, link, op classes, pipelining) and why.
class OpOffload {
 public:
  static constexpr const char* kKind = "offload policy";
  virtual ~OpOffload() = default;
  struct Defaults {
    std::string device;            ///< catalog device
    int count = 1;
    std::string link;              ///< "gpu_host" (the GPU's host link, PCIe), "offload_host" (the offload device's), or "nic"
    bool pipelined = false;
    /// Each GPU reaches every offload device over a link of its own (PIM cubes on the memory bus), so
    /// a GPU's bandwidth to the offload side is count / tp links; otherwise one link per GPU.
    bool link_per_offload_device = false;
    /// KV memory: the offload devices' memory (0) or this many bytes per offload device.
    double kv_memory_per_device = 0;
    /// The GPUs keep what KV their memory leaves room for and attend to it themselves (NEO).
    bool gpu_kv = false;
    /// Op classes that run there; none: the KV is only stored there and read back by the GPUs.
    std::vector<OpClass> ops = {OpClass::attention_decode};
    /// The offload devices sit in the GPUs' own memory, `count` of them per GPU (OffloadPlan::in_gpu_memory).
    bool in_gpu_memory = false;
    /// Where an MoE model's routed experts run: "gpu", "decode" or "co_process" (ExpertsOn).
    std::string experts = "gpu";
    /// Placement by layer range (keys gpu_layers, output_on_gpu, stream_at; OffloadPlan::layers)
    /// instead of by op class.
    bool by_layer = false;
    /// With `link: platform`: the kind of node tier the offload side is (dram: the host, ssd, csd),
    /// the nearest one to each instance's GPUs unless `tier` names one; empty: not on a node.
    std::string platform_tier;
  };
  virtual Defaults defaults() const = 0;
};

}  // namespace hetsim::policies
