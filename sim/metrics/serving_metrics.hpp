#pragma once
// The serving metrics, declared once in serving_metrics.cpp (in output order). Handles for the code
// that emits or computes them: step metrics are emitted by the replica per step, instance / pool /
// run values by the summary. A component may declare further metrics in its own .cpp (see
// sim/core/metric.hpp); the writers pick them up with no edit here.
#include "sim/core/metric.hpp"

namespace hetsim::sim::serving_metrics {
using metrics::MetricId;
using metrics::StepMetric;

// step (columns of steps.csv)
extern const StepMetric kPrefillTokens, kDecodeSeqs, kBatchSeqs, kKvBlocksUsed, kKvBlocksTotal, kSwapOutTokens,
    kSwapInTokens, kTransferTime, kPrefillChunks, kPrefillContextTokens, kPrefillAttentionPairs, kLogitTokens,
    kDecodeContextTokens, kGpuTime, kHostTime, kPrefixLookupTokens, kPrefixHitTokens, kPrefixLoadedTokens,
    kVerifySeqs, kDraftTokens, kAcceptedDraftTokens, kOffloadTime, kOffloadLinkBytes, kOffloadStreamedBytes;
// request (distributions)
extern const MetricId kTtft, kTpot, kE2e, kQueue, kKvHandoff;
// instance ("replicas" entries)
extern const MetricId kInstDevice, kInstRole, kInstTensorParallel, kInstCompleted, kInstSteps, kInstBusyFraction,
    kInstPreemptions, kInstKvCapacity, kInstKvUtilMean, kInstKvUtilPeak, kInstSwapOutTokens, kInstSwapInTokens;
// pool ("pools" entries)
extern const MetricId kPoolName, kPoolDevice, kPoolDeviceKind, kPoolRole, kPoolReplicas, kPoolGpus, kPoolCompleted,
    kPoolRequestThroughput, kPoolBusyFraction, kPoolKvUtil, kPoolTtft, kPoolTpot, kPoolE2e;
// run (summary.json)
extern const MetricId kScenario, kModel, kPrecision, kFleet, kSeed, kRequests, kCompleted, kRejected, kDropped, kClipped, kRejectedByReason,
    kPreemptions, kSteps, kSwapOut, kSwapIn, kSwapBytes, kTransfer, kDuration, kRequestThroughput, kOutputTokenThroughput, kTotalTokenThroughput, kRunTtft, kRunTpot,
    kRunE2e, kRunQueue, kGoodput, kSloAttainment, kKvUtilMean, kKvUtilPeak, kPrefixLookup, kPrefixHit, kPrefixHitRate, kPrefixLoaded, kOffloadSeconds, kOffloadBytes, kOffloadStreamedBytesTotal, kSpecDrafted, kSpecAccepted, kSpecAcceptanceRate, kSpecAcceptanceLength, kPrefixTiers, kTenants, kMigrations, kScaling, kMeanInstances, kDeviceHours, kMeanInSystem, kArrivalRate, kMeanSojourn, kLambdaTimesW,
    kClients, kThinkTimeMean, kPeakInSystem, kClientsFromLaw, kCostModel, kMemory, kGpus, kCostPerHour, kCostPerMillionOutputTokens;

/// What a step did, from its emitted values: prompt tokens only, decodes only (or nothing), or both.
enum class StepKind : std::uint8_t { prefill, decode, mixed };
inline constexpr const char* kStepKindNames[] = {"prefill", "decode", "mixed"};
StepKind step_kind_of(const double* values);
/// The Chrome-trace name of a step from its emitted values: "prefill", "decode" or "mixed".
inline const char* step_kind(const double* values) { return kStepKindNames[static_cast<int>(step_kind_of(values))]; }

}  // namespace hetsim::sim::serving_metrics
