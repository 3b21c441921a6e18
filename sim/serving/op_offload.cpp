#include "sim/serving/op_offload.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>


namespace hetsim::serving {

std::string OffloadPlan::describe() const {
  if (layers) {
    const int L = layers->total_layers, n = layers->gpu_layers;
    const auto range = [](int from, int to) { return to - from == 1 ? fmt::format("layer {}", from) : fmt::format("layers {}-{}", from, to - 1); };
    std::string host = "embedding";
    if (n < L) host += ", " + range(0, L - n) + " with their KV";
    if (layers->experts_apart() > 0) host += fmt::format(", the routed experts of layers {}-{}", L - n, layers->host_expert_layers - 1);
    if (!layers->output_on_gpu) host += ", output";
    std::string gpu = n > 0 ? range(L - n, L) : "";
    if (layers->output_on_gpu) gpu += gpu.empty() ? "output" : ", output";
    const bool streams = layers->may_stream();
    if (gpu.empty()) gpu = streams ? "only the ops it streams weights for" : "nothing";
    const std::string when = layers->stream_by_cost ? "steps where it is faster"
                                                    : fmt::format("steps of {}+ tokens", layers->stream_at);
    return fmt::format("{} runs the {}; the GPU {}{} ({}{})", device->name, host, gpu,
                       streams ? fmt::format("; {} stream host weights to the GPU", when) : "", policy,
                       on_platform ? ", traffic contended on the platform" : "");
  }
  std::string ops;
  for (OpClass c : kOpClasses)
    if (offloads(c)) ops += fmt::format("{}{}", ops.empty() ? "" : ", ", to_string(c));
  if (experts == ExpertsOn::offload_in_decode) ops += ", routed experts in decode-only steps";
  if (experts == ExpertsOn::co_process) ops += ", routed experts co-processed with the GPUs";
  if (ops.empty()) ops = "KV only, read back by the GPUs";
  if (in_gpu_memory) ops += ", in the GPUs' memory";
  return fmt::format("{} x {} ({}; {}{}{})", count, device->name, ops, policy,
                     pipelining == OffloadPipelining::ping_pong ? fmt::format(", ping-pong x{}", sub_batches) : "",
                     on_platform ? ", traffic contended on the platform" : "");
}

OffloadTraffic offload_traffic(const OffloadPlan& plan, const models::ModelSpec& m, int tp, const models::BatchShape& b,
                               double gpu_share) {
  // PIM in the GPUs' own memory reads and writes where the GPUs do: nothing crosses.
  if (plan.in_gpu_memory) return {};
  // Per rank: its query heads and its share of the KV (kv_bytes_per_token is per device, all layers).
  const double act = bytes_per_element(m.precision.activations);
  const double head_bytes = static_cast<double>(m.num_attention_heads / tp) * static_cast<double>(m.head_dim) * act;
  const double kv_token = m.kv_bytes_per_token(tp);  // all layers
  const double layers = static_cast<double>(m.num_hidden_layers);
  const double decode_queries = static_cast<double>(b.decode_seqs + b.draft_tokens);
  const double prefill_tokens = static_cast<double>(b.prefill_tokens);
  OffloadTraffic t;
  // Every new token's K/V goes to the cache on the offload side.
  t.to_offload = (decode_queries + prefill_tokens) * kv_token;
  // A phase whose attention runs there sends its queries and gets the outputs back; a phase whose
  // attention stays on the GPU reads the KV it attends to from there (FlexGen's streamed KV, or
  // chunked prefill on the GPU reading its cached context).
  auto phase = [&](OpClass c, double queries, double cached_context) {
    if (plan.offloads(c)) {
      t.to_offload += queries * head_bytes * layers;
      t.from_offload += queries * head_bytes * layers;
    } else {
      t.from_offload += std::max(0.0, cached_context) * kv_token;
    }
  };
  // Decode attends to its whole context but the token just computed (the GPU has that one), or the
  // part that sparse attention reads.
  phase(OpClass::attention_decode, decode_queries,
        (b.decode_context_tokens - static_cast<double>(b.decode_seqs)) * plan.kv_read_fraction);
  phase(OpClass::attention_prefill, prefill_tokens, b.prefill_kv_read_tokens - prefill_tokens);
  // GPU-resident KV (NEO) never crosses: only the rest of the batch's traffic does.
  t.to_offload *= 1 - gpu_share;
  t.from_offload *= 1 - gpu_share;
  return t;
}

LayerSplitTraffic layer_split_traffic(const LayerSplit& s, const models::ModelSpec& m, const models::BatchShape& b,
                                      StreamChoice streamed) {
  const double act = bytes_per_element(m.precision.activations);
  const double tokens = static_cast<double>(b.tokens()), logits = static_cast<double>(b.logit_tokens);
  const double row = static_cast<double>(m.hidden_size) * act;
  LayerSplitTraffic x;
  const auto cross = [&x](double bytes, bool down) {
    x.bytes += bytes;
    if (down) x.to_host += bytes;
    x.crossings += 1;
  };
  bool on_gpu = false;  // the embedding runs on the host
  if (s.host_layers() > 0 && streamed.layers) {
    // Streamed host layers: each layer's projections and MLP on the GPU, its attention with the KV on
    // the host: q, k and v go down, the attention output comes back up.
    const double heads = static_cast<double>(m.num_attention_heads), kv_heads = static_cast<double>(m.num_key_value_heads);
    const double hd = static_cast<double>(m.head_dim);
    cross(tokens * row, false);
    const double down = s.host_layers() * tokens * (heads + 2 * kv_heads) * hd * act;
    x.bytes += down + s.host_layers() * tokens * heads * hd * act;
    x.to_host += down;
    x.crossings += 2.0 * s.host_layers();
    on_gpu = true;
  }
  if (s.gpu_layers > 0 && !on_gpu) {
    cross(tokens * row, false);
    on_gpu = true;
  }
  // GPU layers whose routed experts run on the host (unless streamed there): the tokens' hidden states
  // go down to the experts and their output comes back, each layer.
  if (!streamed.layers && s.experts_apart() > 0) {
    x.bytes += 2.0 * s.experts_apart() * tokens * row;
    x.to_host += s.experts_apart() * tokens * row;
    x.crossings += 2.0 * s.experts_apart();
  }
  // The last layer keeps only the rows that produce logits (llama.cpp's output ids) for the output layer.
  const bool output_on_gpu = s.output_on_gpu || streamed.output;
  if (logits > 0 && output_on_gpu != on_gpu) cross(logits * row, !output_on_gpu);
  return x;
}

namespace {
/// X: the link's seconds for `traffic` when the sides run one after the other.
double offload_link_time(const OffloadPlan& plan, double layers, const OffloadTraffic& traffic) {
  // A step whose KV is all GPU-resident (NEO) sends nothing and waits for nothing.
  const double bytes = traffic.to_offload + traffic.from_offload;
  if (!(bytes > 0)) return 0;
  // Each layer crosses the link once each way (a direction with no bytes still waits for the other side).
  return plan.link_seconds(traffic.to_offload, traffic.from_offload) + 2 * layers * plan.link.latency;
}
}  // namespace

OffloadStep offload_step_time(const OffloadPlan& plan, double layers, const OffloadParts& whole, const OffloadTraffic& whole_traffic,
                              const OffloadParts& sub, const OffloadTraffic& sub_traffic, bool can_split) {
  const double bw = plan.link.bandwidth;
  const double lat = whole_traffic.to_offload + whole_traffic.from_offload > 0 ? plan.link.latency : 0.0;
  OffloadStep step;
  step.link = offload_link_time(plan, layers, whole_traffic);
  const double serial = whole.gpu + whole.offload + whole.both + step.link;
  step.seconds = serial;
  if (plan.pipelining == OffloadPipelining::none || !can_split) return step;
  const double n = plan.sub_batches;
  const double g = sub.gpu / layers, a = sub.offload / layers;
  const double to = sub_traffic.to_offload / layers / bw, back = sub_traffic.from_offload / layers / plan.bandwidth_back();
  const double period = std::max({n * g, n * a, n * to, n * back, g + to + lat + a + back + lat});
  const double pipelined = layers * period + (n - 1) * g;
  if (pipelined < serial) step = {.seconds = pipelined, .link = step.link, .pipelined = true};
  return step;
}

}  // namespace hetsim::serving
