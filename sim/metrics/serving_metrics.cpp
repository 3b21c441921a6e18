// Every serving metric, declared once. Order here is the order of steps.csv columns, of keys in
// summary.json (per scope) and of fragments in the printed table.
#include "sim/metrics/serving_metrics.hpp"

namespace hetsim::sim::serving_metrics {
using metrics::Agg;
using metrics::declare;
using metrics::declare_step;
using metrics::Scope;
using metrics::Type;

namespace {
// The printed table's lines, top to bottom.
const bool kLines = metrics::declare_table_line("precision") && metrics::declare_table_line("requests") &&
                    metrics::declare_table_line("rejected") && metrics::declare_table_line("clients") &&
                    metrics::declare_table_line("throughput") && metrics::declare_table_line("goodput") &&
                    metrics::declare_table_line("KV swap") && metrics::declare_table_line("KV cache") &&
                    metrics::declare_table_line("prefix hits") && metrics::declare_table_line("speculation") &&
                    metrics::declare_table_line("cost") && metrics::declare_table_line("scaling");
}  // namespace

// ---- instance values known before any step (the first keys of each "replicas" entry)
const MetricId kInstDevice = declare({.name = "device", .scope = Scope::instance, .type = Type::text,
                                      .description = "device catalog name", .key = "device"});
const MetricId kInstRole = declare({.name = "role", .scope = Scope::instance, .type = Type::text,
                                    .description = "what the instance serves: both phases, prefill or decode",
                                    .key = "role", .only_with = "kv_handoff"});
const MetricId kInstTensorParallel = declare({.name = "tensor_parallel", .scope = Scope::instance, .type = Type::integer,
                                              .unit = "devices", .description = "tensor-parallel degree",
                                              .key = "tensor_parallel"});
const MetricId kInstCompleted = declare({.name = "completed", .scope = Scope::instance, .type = Type::integer,
                                         .unit = "requests", .description = "requests completed on the instance",
                                         .key = "completed"});
const MetricId kInstSteps = declare({.name = "steps", .scope = Scope::instance, .type = Type::integer, .unit = "steps",
                                     .description = "model steps run", .key = "steps"});
const MetricId kInstBusyFraction = declare({.name = "busy_fraction", .scope = Scope::instance, .unit = "1",
                                            .description = "fraction of the run spent in steps", .key = "busy_fraction"});

// ---- step metrics (the KV-swap ones exist only in runs whose preemption policy moves KV)
const StepMetric kPrefillTokens = declare_step(
    {.name = "prefill_tokens", .type = Type::integer, .unit = "tokens", .description = "prompt tokens computed in the step",
     .column = "prefill_tokens", .timeline = true, .instance = {Agg::sum, "prefill_tokens"}});
const StepMetric kDecodeSeqs = declare_step(
    {.name = "decode_seqs", .type = Type::integer, .unit = "sequences",
     .description = "sequences decoding one token in the step", .column = "decode_seqs", .timeline = true,
     .instance = {Agg::sum, "decode_tokens"}});
const MetricId kInstPreemptions = declare({.name = "preemptions", .scope = Scope::instance, .type = Type::integer,
                                           .unit = "preemptions",
                                           .description = "preemptions of the requests completed on the instance",
                                           .key = "preemptions"});
const StepMetric kBatchSeqs = declare_step({.name = "batch_seqs", .type = Type::integer, .unit = "sequences",
                                            .description = "sequences in the step's batch", .column = "batch_seqs",
                                            .window = Agg::time_mean});
const StepMetric kKvBlocksUsed = declare_step({.name = "kv_blocks_used", .type = Type::integer, .unit = "blocks",
                                               .description = "KV blocks in use when the step starts",
                                               .column = "kv_blocks_used", .timeline = true,
                                               .at_most = "kv_blocks_total", .window = Agg::time_mean});
const StepMetric kKvBlocksTotal = declare_step({.name = "kv_blocks_total", .type = Type::integer, .unit = "blocks",
                                                .description = "KV blocks on the instance", .column = "kv_blocks_total",
                                                .window = Agg::max});
const StepMetric kSwapOutTokens = declare_step(
    {.name = "swap_out_tokens", .type = Type::integer, .unit = "tokens",
     .description = "KV tokens copied device -> swap tier before the step", .column = "swap_out_tokens",
     .only_with = "kv_swap", .instance = {Agg::sum, "swap_out_tokens"}});
const StepMetric kSwapInTokens = declare_step(
    {.name = "swap_in_tokens", .type = Type::integer, .unit = "tokens",
     .description = "KV tokens copied swap tier -> device before the step", .column = "swap_in_tokens",
     .only_with = "kv_swap", .instance = {Agg::sum, "swap_in_tokens"}});
const StepMetric kTransferTime = declare_step(
    {.name = "transfer_s", .unit = "s", .description = "seconds of the step spent waiting for its KV copies",
     .column = "transfer_s", .only_with = "kv_swap", .instance = {Agg::sum, "transfer_s"}});
// ---- prefix caching (runs whose KV manager caches prefixes)
const StepMetric kPrefixLookupTokens = declare_step(
    {.name = "prefix_lookup_tokens", .type = Type::integer, .unit = "tokens",
     .description = "tokens of the sequences admitted in the step, looked up in the prefix cache", .column = "prefix_lookup_tokens",
     .only_with = "prefix_cache", .instance = {Agg::sum, "prefix_lookup_tokens"}});
const StepMetric kPrefixHitTokens = declare_step(
    {.name = "prefix_hit_tokens", .type = Type::integer, .unit = "tokens",
     .description = "of those, tokens found cached: prefill not computed", .column = "prefix_hit_tokens",
     .only_with = "prefix_cache", .timeline = true, .instance = {Agg::sum, "prefix_hit_tokens"}});
const StepMetric kPrefixLoadedTokens = declare_step(
    {.name = "prefix_loaded_tokens", .type = Type::integer, .unit = "tokens",
     .description = "of the hit tokens, those loaded from tiers below device memory before the step",
     .column = "prefix_loaded_tokens", .only_with = "kv_offload", .instance = {Agg::sum, "prefix_loaded_tokens"}});
// ---- speculative decoding (runs with policies.speculative)
const StepMetric kVerifySeqs = declare_step(
    {.name = "verify_seqs", .type = Type::integer, .unit = "sequences",
     .description = "decoding sequences that verified draft tokens in the step", .column = "verify_seqs",
     .only_with = "speculative", .instance = {Agg::sum, "verify_seqs"}});
const StepMetric kDraftTokens = declare_step(
    {.name = "draft_tokens", .type = Type::integer, .unit = "tokens",
     .description = "draft tokens verified in the step", .column = "draft_tokens", .only_with = "speculative",
     .instance = {Agg::sum, "draft_tokens"}});
const StepMetric kAcceptedDraftTokens = declare_step(
    {.name = "accepted_draft_tokens", .type = Type::integer, .unit = "tokens",
     .description = "of those, drafts accepted (output tokens beyond one per sequence)",
     .column = "accepted_draft_tokens", .only_with = "speculative", .instance = {Agg::sum, "accepted_draft_tokens"}});
// ---- op offload (runs with a pool key offload: attention on other devices)
const StepMetric kOffloadTime = declare_step(
    {.name = "offload_s", .unit = "s", .description = "seconds of the step's offloaded ops on the offload devices",
     .column = "offload_s", .only_with = "offload", .instance = {Agg::sum, "offload_s"}});
const StepMetric kOffloadLinkBytes = declare_step(
    {.name = "offload_link_bytes", .unit = "bytes",
     .description = "bytes each GPU of the instance exchanged with the offload side in the step (both ways)",
     .column = "offload_link_bytes", .only_with = "offload", .instance = {Agg::sum, "offload_link_bytes"}});
const StepMetric kOffloadStreamedBytes = declare_step(
    {.name = "offload_streamed_bytes", .unit = "bytes",
     .description = "of those, host weights copied to the GPU to run host layers' ops there (offload layers, stream_at)",
     .column = "offload_streamed_bytes", .only_with = "weight_streaming", .instance = {Agg::sum, "offload_streamed_bytes"}});
// ---- the batch as priced (output.step_detail: true): enough to rebuild the step's BatchShape, so
// `hetsim explain --steps FILE --row N` reprices any step of a run exactly.
const StepMetric kPrefillChunks = declare_step({.name = "prefill_chunks", .type = Type::integer, .unit = "chunks",
                                                .description = "prompt chunks in the step", .column = "prefill_chunks",
                                                .only_with = "step_detail"});
const StepMetric kPrefillContextTokens = declare_step(
    {.name = "prefill_context_tokens", .type = Type::integer, .unit = "tokens",
     .description = "sum over the step's prompt chunks of the tokens already in the KV cache before the chunk",
     .column = "prefill_context_tokens", .only_with = "step_detail"});
const StepMetric kPrefillAttentionPairs = declare_step(
    {.name = "prefill_attention_pairs", .type = Type::integer, .unit = "pairs",
     .description = "causal query-key pairs of the prompt chunks: sum of c*p + c(c+1)/2",
     .column = "prefill_attention_pairs", .only_with = "step_detail"});
const StepMetric kLogitTokens = declare_step({.name = "logit_tokens", .type = Type::integer, .unit = "tokens",
                                              .description = "positions that produce a token (decodes + chunks ending a prompt)",
                                              .column = "logit_tokens", .only_with = "step_detail"});
const StepMetric kDecodeContextTokens = declare_step(
    {.name = "decode_context_tokens", .type = Type::integer, .unit = "tokens",
     .description = "sum of the decoding sequences' contexts, each new token included", .column = "decode_context_tokens",
     .only_with = "step_detail"});
const StepMetric kGpuTime = declare_step({.name = "gpu_s", .unit = "s", .description = "GPU part of the step (its ops)",
                                          .column = "gpu_s", .only_with = "step_detail"});
const StepMetric kHostTime = declare_step({.name = "host_s", .unit = "s",
                                           .description = "host part of the step (the serving stack's work)",
                                           .column = "host_s", .only_with = "step_detail"});

const MetricId kInstSwapOutTokens{metrics::catalog().find(Scope::instance, "swap_out_tokens")};
const MetricId kInstSwapInTokens{metrics::catalog().find(Scope::instance, "swap_in_tokens")};

// ---- instance capacity and KV utilization
const MetricId kInstKvCapacity = declare({.name = "kv_blocks_total", .scope = Scope::instance, .type = Type::integer,
                                          .unit = "blocks", .description = "KV blocks on the instance",
                                          .key = "kv_blocks_total"});
const MetricId kInstKvUtilMean = declare(
    {.name = "kv_utilization_mean", .scope = Scope::instance, .unit = "1",
     .description = "time-mean KV blocks in use over the run (idle time counts as zero), as a fraction of capacity",
     .agg = Agg::time_mean, .from = "kv_blocks_used", .per = "kv_blocks_total", .key = "kv_utilization_mean"});
const MetricId kInstKvUtilPeak = declare({.name = "kv_utilization_peak", .scope = Scope::instance, .unit = "1",
                                          .description = "most KV blocks in use at a step start, as a fraction of capacity",
                                          .agg = Agg::max, .from = "kv_blocks_used", .per = "kv_blocks_total",
                                          .key = "kv_utilization_peak"});

// ---- request metrics (values per completed request)
const MetricId kTtft = declare({.name = "ttft", .scope = Scope::request, .unit = "s",
                                .description = "time to first token: first token - arrival"});
const MetricId kTpot = declare({.name = "tpot", .scope = Scope::request, .unit = "s",
                                .description = "time per output token after the first (requests with > 1 output token)"});
const MetricId kE2e = declare({.name = "e2e", .scope = Scope::request, .unit = "s",
                               .description = "end-to-end latency: completion - arrival"});
const MetricId kQueue = declare({.name = "queue", .scope = Scope::request, .unit = "s",
                                 .description = "queueing delay: first scheduled - arrival"});
const MetricId kKvHandoff = declare({.name = "kv_handoff", .scope = Scope::request, .unit = "s",
                                     .description = "KV hand-off time of a request moved between instances (prefill to "
                                                    "decode): reservation to landing",
                                     .only_with = "kv_handoff"});

// ---- pools ("pools" entries)
const MetricId kPoolName = declare({.name = "name", .scope = Scope::pool, .type = Type::text,
                                    .description = "pool name", .key = "name"});
const MetricId kPoolDevice = declare({.name = "device", .scope = Scope::pool, .type = Type::text,
                                      .description = "device catalog name", .key = "device"});
const MetricId kPoolDeviceKind = declare({.name = "device_kind", .scope = Scope::pool, .type = Type::text,
                                          .description = "device kind (gpu, cpu, npu, soc)", .key = "device_kind"});
const MetricId kPoolRole = declare({.name = "role", .scope = Scope::pool, .type = Type::text,
                                    .description = "what the pool's instances serve: both phases, prefill or decode",
                                    .key = "role", .only_with = "kv_handoff"});
const MetricId kPoolReplicas = declare({.name = "replicas", .scope = Scope::pool, .type = Type::integer,
                                        .unit = "instances", .description = "instances in the pool", .key = "replicas"});
const MetricId kPoolGpus = declare({.name = "gpus", .scope = Scope::pool, .type = Type::integer, .unit = "devices",
                                    .description = "accelerators in the pool", .key = "gpus"});
const MetricId kPoolCompleted = declare({.name = "completed", .scope = Scope::pool, .type = Type::integer,
                                         .unit = "requests", .description = "requests completed in the pool",
                                         .agg = Agg::sum, .from = "completed", .key = "completed"});
const MetricId kPoolRequestThroughput = declare({.name = "requests_per_s", .scope = Scope::pool, .unit = "requests/s",
                                                 .description = "completed requests per simulated second",
                                                 .key = "requests_per_s"});
const MetricId kPoolBusyFraction = declare({.name = "busy_fraction", .scope = Scope::pool, .unit = "1",
                                            .description = "mean busy fraction of the pool's instances",
                                            .agg = Agg::mean, .from = "busy_fraction", .key = "busy_fraction"});
const MetricId kPoolKvUtil = declare({.name = "kv_utilization_mean", .scope = Scope::pool, .unit = "1",
                                      .description = "mean KV utilization of the pool's instances", .agg = Agg::mean,
                                      .from = "kv_utilization_mean", .key = "kv_utilization_mean"});
const MetricId kPoolTtft = declare({.name = "ttft", .scope = Scope::pool, .unit = "s",
                                    .description = "TTFT of the pool's requests", .agg = Agg::distribution,
                                    .from = "ttft", .key = "latency_s.ttft"});
const MetricId kPoolTpot = declare({.name = "tpot", .scope = Scope::pool, .unit = "s",
                                    .description = "TPOT of the pool's requests", .agg = Agg::distribution,
                                    .from = "tpot", .key = "latency_s.tpot"});
const MetricId kPoolE2e = declare({.name = "e2e", .scope = Scope::pool, .unit = "s",
                                   .description = "E2E latency of the pool's requests", .agg = Agg::distribution,
                                   .from = "e2e", .key = "latency_s.e2e"});

// ---- run (summary.json, in key order)
const MetricId kScenario = declare({.name = "scenario", .type = Type::text, .description = "scenario name", .key = "scenario"});
const MetricId kModel = declare({.name = "model", .type = Type::text, .description = "model name", .key = "model"});
const MetricId kPrecision = declare({.name = "precision", .type = Type::text,
                                     .description = "dtypes of weights, GEMM math, activations, KV cache and "
                                                    "collectives, when they are not all the same (model.precision)",
                                     .key = "precision", .table = {"precision", "{}"}, .only_with = "mixed_precision"});
const MetricId kFleet = declare({.name = "fleet", .type = Type::text, .description = "instances by device and TP",
                                 .key = "fleet"});
const MetricId kSeed = declare({.name = "seed", .type = Type::json, .description = "random seed", .key = "seed"});
const MetricId kRequests = declare({.name = "requests", .type = Type::integer, .unit = "requests",
                                    .description = "requests that arrived", .key = "requests.total"});
const MetricId kCompleted = declare({.name = "completed", .type = Type::integer, .unit = "requests",
                                     .description = "requests completed", .key = "requests.completed",
                                     .sweep = "completed", .table = {"requests", "{} completed"}});
const MetricId kRejected = declare({.name = "rejected", .type = Type::integer, .unit = "requests",
                                    .description = "requests rejected (they could never run)", .key = "requests.rejected",
                                    .sweep = "rejected", .table = {"requests", ", {} rejected"}});
const MetricId kDropped = declare({.name = "dropped", .type = Type::integer, .unit = "requests",
                                   .description = "requests never admitted (serving.over_length: drop); outside the "
                                                  "latency statistics, SLO attainment and Little's law",
                                   .key = "requests.dropped", .table = {"requests", ", {} dropped"},
                                   .only_with = "over_length_drop"});
const MetricId kClipped = declare({.name = "clipped", .type = Type::integer, .unit = "requests",
                                   .description = "requests shortened to fit max_model_len (serving.over_length: clip)",
                                   .key = "requests.clipped", .table = {"requests", ", {} clipped"},
                                   .only_with = "over_length_clip"});
const MetricId kRejectedByReason = declare({.name = "rejected_by_reason", .type = Type::json, .unit = "requests",
                                            .description = "rejected requests per reason",
                                            .key = "rejected_by_reason", .table = {"rejected", "{} x {key}"}});
const MetricId kPreemptions = declare({.name = "preemptions", .type = Type::integer, .unit = "preemptions",
                                       .description = "preemptions of completed requests", .agg = Agg::sum,
                                       .from = "preemptions", .key = "preemptions", .sweep = "preemptions",
                                       .table = {"requests", ", {} preemptions"}});
const MetricId kSteps = declare({.name = "steps", .type = Type::integer, .unit = "steps", .description = "model steps",
                                 .agg = Agg::sum, .from = "steps", .key = "steps", .table = {"requests", ", {} steps"}});
const MetricId kSwapOut = declare({.name = "swap_out_tokens", .type = Type::integer, .unit = "tokens",
                                   .description = "KV tokens swapped out, all instances", .agg = Agg::sum,
                                   .from = "swap_out_tokens", .key = "kv_swap.out_tokens",
                                   .table = {"KV swap", "{} tokens out"}, .only_with = "kv_swap"});
const MetricId kSwapIn = declare({.name = "swap_in_tokens", .type = Type::integer, .unit = "tokens",
                                  .description = "KV tokens swapped back in, all instances", .agg = Agg::sum,
                                  .from = "swap_in_tokens", .key = "kv_swap.in_tokens", .table = {"KV swap", ", {} in"},
                                  .only_with = "kv_swap"});
const MetricId kSwapBytes = declare({.name = "swap_bytes", .unit = "B",
                                     .description = "KV bytes moved by swapping, all devices", .key = "kv_swap.bytes",
                                     .table = {"KV swap", ", {:.2f} GB moved", 1e-9}, .only_with = "kv_swap"});
const MetricId kTransfer = declare({.name = "transfer_s", .unit = "s",
                                    .description = "step time spent waiting for KV copies, summed over instances",
                                    .agg = Agg::sum, .from = "transfer_s", .key = "kv_swap.transfer_s",
                                    .table = {"KV swap", ", {:.3f} s of steps waiting for copies"},
                                    .only_with = "kv_swap"});
const MetricId kDuration = declare({.name = "duration_s", .unit = "s",
                                    .description = "simulated seconds until the last request finished",
                                    .key = "duration_s", .sweep = "duration_s",
                                    .table = {"requests", ", {:.3f} s simulated"}});
const MetricId kRequestThroughput = declare({.name = "request_throughput", .unit = "requests/s",
                                             .description = "completed requests per simulated second",
                                             .key = "throughput.requests_per_s", .sweep = "request_throughput",
                                             .table = {"throughput", "{:.3f} req/s"}});
const MetricId kOutputTokenThroughput = declare({.name = "output_token_throughput", .unit = "tokens/s",
                                                 .description = "output tokens of completed requests per second",
                                                 .key = "throughput.output_tokens_per_s",
                                                 .sweep = "output_token_throughput",
                                                 .table = {"throughput", ", {:.1f} output tok/s"}});
const MetricId kTotalTokenThroughput = declare({.name = "total_token_throughput", .unit = "tokens/s",
                                                .description = "prompt + output tokens of completed requests per second",
                                                .key = "throughput.total_tokens_per_s",
                                                .sweep = "total_token_throughput",
                                                .table = {"throughput", ", {:.1f} total tok/s"}});
const MetricId kRunTtft = declare({.name = "ttft", .unit = "s", .description = "time to first token", .agg = Agg::distribution,
                                   .from = "ttft", .key = "latency_s.ttft", .sweep = "ttft",
                                   .table = {"TTFT (ms)", "", 1e3}});
const MetricId kRunTpot = declare({.name = "tpot", .unit = "s", .description = "time per output token",
                                   .agg = Agg::distribution, .from = "tpot", .key = "latency_s.tpot", .sweep = "tpot",
                                   .table = {"TPOT (ms)", "", 1e3}});
const MetricId kRunE2e = declare({.name = "e2e", .unit = "s", .description = "end-to-end latency", .agg = Agg::distribution,
                                  .from = "e2e", .key = "latency_s.e2e", .sweep = "e2e", .table = {"E2E (s)", "", 1}});
const MetricId kRunQueue = declare({.name = "queue", .unit = "s", .description = "queueing delay", .agg = Agg::distribution,
                                    .from = "queue", .key = "latency_s.queue", .table = {"queue (ms)", "", 1e3}});
const MetricId kRunKvHandoff = declare({.name = "kv_handoff", .unit = "s",
                                        .description = "KV hand-off time of the requests moved between instances",
                                        .agg = Agg::distribution, .from = "kv_handoff", .key = "latency_s.kv_handoff",
                                        .sweep = "kv_handoff", .table = {"handoff (ms)", "", 1e3}, .only_with = "kv_handoff"});
const MetricId kGoodput = declare({.name = "goodput", .unit = "requests/s",
                                   .description = "requests meeting every SLO per simulated second",
                                   .key = "goodput.requests_per_s", .sweep = "goodput",
                                   .table = {"goodput", "{:.3f} req/s"}, .only_with = "slo"});
const MetricId kSloAttainment = declare({.name = "slo_attainment", .unit = "1",
                                         .description = "fraction of all requests meeting every SLO",
                                         .key = "goodput.slo_attainment", .sweep = "slo_attainment",
                                         .table = {"goodput", " ({:.1f}% of requests meet {slo})", 100},
                                         .only_with = "slo"});
const MetricId kKvUtilMean = declare({.name = "kv_utilization_mean", .unit = "1",
                                      .description = "mean over instances of their mean KV utilization",
                                      .agg = Agg::mean, .from = "kv_utilization_mean", .key = "kv_utilization.mean",
                                      .sweep = "kv_utilization_mean", .table = {"KV cache", "{:.1f}% mean", 100}});
const MetricId kKvUtilPeak = declare({.name = "kv_utilization_peak", .unit = "1",
                                      .description = "highest KV utilization of any instance", .agg = Agg::max,
                                      .from = "kv_utilization_peak", .key = "kv_utilization.peak",
                                      .sweep = "kv_utilization_peak",
                                      .table = {"KV cache", ", {:.1f}% peak utilization", 100}});
const MetricId kPrefixLookup = declare({.name = "prefix_lookup_tokens", .type = Type::integer, .unit = "tokens",
                                       .description = "tokens of admitted sequences looked up in the prefix cache, all "
                                                      "instances (a sequence admitted again after preemption counts again)",
                                       .agg = Agg::sum, .from = "prefix_lookup_tokens", .key = "prefix_cache.lookup_tokens",
                                       .only_with = "prefix_cache"});
const MetricId kPrefixHit = declare({.name = "prefix_hit_tokens", .type = Type::integer, .unit = "tokens",
                                    .description = "of those, tokens found cached (prefill tokens saved), all instances",
                                    .agg = Agg::sum, .from = "prefix_hit_tokens", .key = "prefix_cache.hit_tokens",
                                    .sweep = "prefix_hit_tokens", .table = {"prefix hits", "{} tokens reused"},
                                    .only_with = "prefix_cache"});
const MetricId kPrefixHitRate = declare({.name = "prefix_hit_rate", .unit = "1",
                                        .description = "token-weighted prefix-cache hit rate: hit tokens / lookup tokens",
                                        .key = "prefix_cache.hit_rate", .sweep = "prefix_hit_rate",
                                        .table = {"prefix hits", " ({:.1f}% of admitted tokens)", 100},
                                        .only_with = "prefix_cache"});
const MetricId kOffloadSeconds = declare({.name = "offload_s", .unit = "s",
                                         .description = "seconds of offloaded ops on the offload devices, all instances",
                                         .agg = Agg::sum, .from = "offload_s", .key = "offload.device_seconds",
                                         .table = {"offload", "{:.1f} s on offload devices"}, .only_with = "offload"});
const MetricId kOffloadBytes = declare({.name = "offload_link_bytes", .unit = "bytes",
                                       .description = "bytes exchanged with the offload side per GPU, all instances",
                                       .agg = Agg::sum, .from = "offload_link_bytes", .key = "offload.link_bytes",
                                       .only_with = "offload"});
const MetricId kOffloadStreamedBytesTotal = declare({.name = "offload_streamed_bytes", .unit = "bytes",
                                                    .description = "host weights copied to the GPUs, all instances",
                                                    .agg = Agg::sum, .from = "offload_streamed_bytes",
                                                    .key = "offload.streamed_bytes", .only_with = "weight_streaming"});
const MetricId kSpecDrafted = declare({.name = "draft_tokens", .type = Type::integer, .unit = "tokens",
                                      .description = "draft tokens verified, all instances", .agg = Agg::sum,
                                      .from = "draft_tokens", .key = "speculative.draft_tokens",
                                      .table = {"speculation", "{} drafts"}, .only_with = "speculative"});
const MetricId kSpecAccepted = declare({.name = "accepted_draft_tokens", .type = Type::integer, .unit = "tokens",
                                       .description = "of those, drafts accepted, all instances", .agg = Agg::sum,
                                       .from = "accepted_draft_tokens", .key = "speculative.accepted_tokens",
                                       .only_with = "speculative"});
const MetricId kSpecAcceptanceRate = declare({.name = "draft_acceptance_rate", .unit = "1",
                                             .description = "accepted draft tokens / draft tokens verified",
                                             .key = "speculative.acceptance_rate", .sweep = "draft_acceptance_rate",
                                             .table = {"speculation", ", {:.1f}% accepted", 100},
                                             .only_with = "speculative"});
const MetricId kSpecAcceptanceLength = declare(
    {.name = "acceptance_length", .unit = "tokens",
     .description = "mean tokens a speculating sequence gained per step: 1 + accepted drafts / verifications "
                    "(vLLM's and Spec-Bench's mean acceptance length)",
     .key = "speculative.acceptance_length", .sweep = "acceptance_length",
     .table = {"speculation", ", {:.2f} tokens per verifying step"}, .only_with = "speculative"});
const MetricId kPrefixLoaded = declare({.name = "prefix_loaded_tokens", .type = Type::integer, .unit = "tokens",
                                       .description = "of the hits, tokens loaded from tiers below device memory, all instances",
                                       .agg = Agg::sum, .from = "prefix_loaded_tokens", .key = "prefix_cache.loaded_tokens",
                                       .sweep = "prefix_loaded_tokens", .table = {"prefix hits", ", {} loaded from lower tiers"},
                                       .only_with = "kv_offload"});
const MetricId kPrefixTiers = declare({.name = "prefix_cache_tiers", .type = Type::json,
                                      .description = "per KV tier (device, then each offload tier), summed over instances: "
                                                     "capacity in blocks, tokens hit there and their share of looked-up "
                                                     "tokens, tokens written, blocks evicted, estimated load and recompute "
                                                     "seconds of its hits (one device's shard)",
                                      .key = "prefix_cache.tiers", .only_with = "prefix_cache"});
const MetricId kTenants = declare({.name = "tenants", .type = Type::json,
                                   .description = "per tenant (workload.tenants): priority, requests, completed, prompt "
                                                  "and output tokens served, share of service (prompt + 2 x output "
                                                  "tokens, VTC's weights), TTFT and E2E distributions, SLO attainment",
                                   .key = "tenants", .only_with = "tenants"});
const MetricId kMigrations = declare({.name = "migrations", .type = Type::json,
                                      .description = "live migrations of running sequences: done, aborted, KV bytes "
                                                     "copied, downtime distribution (stop-and-copy)",
                                      .key = "migrations", .only_with = "migration"});
const MetricId kScaling = declare({.name = "scaling", .type = Type::json,
                                   .description = "elastic capacity: instance starts, readies, drains, revives and stops; "
                                                  "cold-start seconds and weight bytes loaded; provisioned instances "
                                                  "(time-average, peak, least), device-hours and their cost",
                                   .key = "scaling", .only_with = "scaling"});
const MetricId kMeanInstances = declare({.name = "mean_instances", .unit = "instances",
                                         .description = "time-average instances provisioned (every state but stopped)",
                                         .key = "scaling.mean_instances", .sweep = "mean_instances",
                                         .table = {"scaling", "{:.2f} instances on average"}, .only_with = "scaling"});
const MetricId kDeviceHours = declare({.name = "device_hours", .unit = "h",
                                       .description = "device-hours provisioned (instance time x TP degree)",
                                       .key = "scaling.device_hours", .sweep = "device_hours",
                                       .table = {"scaling", ", {:.2f} device-hours"}, .only_with = "scaling"});
const MetricId kMeanInSystem = declare({.name = "mean_in_system", .unit = "requests",
                                        .description = "Little's law L: time-average requests in the system",
                                        .key = "littles_law.mean_in_system"});
const MetricId kArrivalRate = declare({.name = "arrival_rate", .unit = "requests/s",
                                       .description = "Little's law lambda: arrivals per simulated second",
                                       .key = "littles_law.arrival_rate_per_s"});
const MetricId kMeanSojourn = declare({.name = "mean_sojourn", .unit = "s",
                                       .description = "Little's law W: mean time in the system (rejected included)",
                                       .key = "littles_law.mean_sojourn_s"});
const MetricId kLambdaTimesW = declare({.name = "lambda_times_w", .unit = "requests",
                                        .description = "Little's law lambda x W (should equal L)",
                                        .key = "littles_law.lambda_times_w"});
// Closed-loop clients (workload.concurrency): the interactive response-time law N = X (R + Z).
const MetricId kClients = declare({.name = "clients", .type = Type::integer, .unit = "clients",
                                   .description = "closed-loop clients (workload.concurrency)", .key = "closed_loop.clients",
                                   .table = {"clients", "{} closed-loop"}, .only_with = "closed_loop"});
const MetricId kThinkTimeMean = declare({.name = "think_time_mean", .unit = "s",
                                         .description = "Z: mean think time before a client's next request (over the "
                                                        "requests that followed one)",
                                         .key = "closed_loop.think_time_mean_s", .table = {"clients", ", think {:.3f} s mean"},
                                         .only_with = "closed_loop"});
const MetricId kPeakInSystem = declare({.name = "peak_in_system", .type = Type::integer, .unit = "requests",
                                        .description = "most requests in the system at once (never above the clients)",
                                        .key = "closed_loop.peak_in_system", .table = {"clients", ", at most {} in flight"},
                                        .only_with = "closed_loop"});
const MetricId kClientsFromLaw = declare(
    {.name = "throughput_times_cycle", .unit = "clients",
     .description = "X (R + Z): ended requests per second x (mean time in the system, dropped as 0, + mean think "
                    "time); equals the clients up to the run's start and end",
     .key = "closed_loop.throughput_times_cycle", .table = {"clients", "; X (R + Z) = {:.2f}"},
     .only_with = "closed_loop"});
const MetricId kCostModel = declare({.name = "cost_model", .type = Type::json,
                                     .description = "where each device's efficiency figures come from",
                                     .key = "cost_model"});
const MetricId kMemory = declare({.name = "memory", .type = Type::json, .unit = "B",
                                  .description = "per pool, how one device's memory is split before the KV cache is "
                                                 "sized: usable x utilization - weights - activation peak - non-torch - "
                                                 "CUDA graphs = KV (bytes), and the KV blocks that gives",
                                  .key = "memory"});
const MetricId kGpus = declare({.name = "gpus", .type = Type::integer, .unit = "devices",
                                .description = "accelerators in the fleet", .key = "gpus", .sweep = "gpus"});
const MetricId kCostPerHour = declare({.name = "cost_per_hour", .unit = "USD/h",
                                       .description = "fleet rental cost (null unless every device's price is known)",
                                       .key = "cost_per_hour", .sweep = "cost_per_hour",
                                       .table = {"cost", "${:.2f}/h for {gpus} GPUs"}});
const MetricId kCostPerMillionOutputTokens = declare({.name = "cost_per_million_output_tokens", .unit = "USD",
                                                      .description = "fleet cost per 1M output tokens at the run's throughput (with elastic "
                                                                     "capacity: each instance's devices while provisioned)",
                                                      .table = {"cost", "; ${:.3f} per 1M output tokens"}});

StepKind step_kind_of(const double* v) {
  return v[kPrefillTokens.slot] > 0 ? (v[kDecodeSeqs.slot] > 0 ? StepKind::mixed : StepKind::prefill) : StepKind::decode;
}

}  // namespace hetsim::sim::serving_metrics
