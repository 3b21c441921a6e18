#include "sim/metrics/training_results.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "sim/core/io/atomic_file.hpp"
#include "sim/core/metric.hpp"
#include "sim/metrics/resilience_results.hpp"

namespace hetsim::sim {
namespace {

constexpr const char* kStreamNames[] = {"compute", "pipeline", "data_parallel", "checkpoint", "offload"};

// Run metrics of training runs, declared for their summary.json keys (written below) and sweep
// columns, so that a sweep over training keys tabulates them (empty cells for serving points).
const bool kTrainingMetrics = [] {
  using metrics::declare;
  const char* only = "training";
  declare({.name = "train_step_time", .unit = "s", .description = "steady-state iteration time",
           .key = "training.step_time_s", .sweep = "train_step_time_s", .only_with = only});
  declare({.name = "train_tokens_per_s", .unit = "tokens/s", .description = "training tokens per second",
           .key = "training.tokens_per_s", .sweep = "train_tokens_per_s", .only_with = only});
  declare({.name = "train_tokens_per_s_per_gpu", .unit = "tokens/s", .description = "training tokens per second per GPU",
           .key = "training.tokens_per_s_per_gpu", .sweep = "train_tokens_per_s_per_gpu", .only_with = only});
  declare({.name = "train_model_tflops_per_gpu", .unit = "TFLOP/s",
           .description = "model FLOPs per second per GPU (Megatron's accounting)",
           .key = "training.model_tflops_per_gpu", .sweep = "train_model_tflops_per_gpu", .only_with = only});
  declare({.name = "train_mfu", .unit = "1", .description = "model FLOPs utilization",
           .key = "training.mfu", .sweep = "train_mfu", .only_with = only});
  declare({.name = "train_goodput", .unit = "1",
           .description = "useful compute time over wall time of the whole run with failures (mean of trials)",
           .key = "training.resilience.goodput", .sweep = "train_goodput", .only_with = only});
  declare({.name = "train_days_with_failures", .unit = "days",
           .description = "time to train train_tokens with failures and checkpoints (mean of trials)",
           .key = "training.resilience.time_to_train_days", .sweep = "train_days_with_failures", .only_with = only});
  declare({.name = "train_checkpoint_stall", .unit = "s", .description = "training's wait for one checkpoint",
           .key = "training.checkpoint.stall_s", .sweep = "train_checkpoint_stall_s", .only_with = only});
  declare({.name = "train_peak_memory", .unit = "GiB", .description = "peak device memory of the most loaded rank",
           .key = "training.peak_memory_gib", .sweep = "train_peak_memory_gib", .only_with = only});
  return true;
}();
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

void add(RankTimes& into, const RankTimes& t, double scale) {
  into.compute += t.compute * scale;
  into.tp_comm += t.tp_comm * scale;
  into.ep_comm += t.ep_comm * scale;
  into.cp_comm += t.cp_comm * scale;
  into.pp_bubble += t.pp_bubble * scale;
  into.pp_comm += t.pp_comm * scale;
  into.dp_comm += t.dp_comm * scale;
  into.optimizer += t.optimizer * scale;
  into.idle += t.idle * scale;
  into.checkpoint += t.checkpoint * scale;
  into.offload += t.offload * scale;
}

nlohmann::ordered_json times_json(const RankTimes& t) {
  nlohmann::ordered_json j;
  j["compute_s"] = t.compute;
  j["tp_comm_s"] = t.tp_comm;
  j["ep_comm_s"] = t.ep_comm;
  j["cp_comm_s"] = t.cp_comm;
  j["pp_bubble_s"] = t.pp_bubble;
  j["pp_comm_s"] = t.pp_comm;
  j["dp_comm_s"] = t.dp_comm;
  j["optimizer_s"] = t.optimizer;
  j["idle_s"] = t.idle;
  j["checkpoint_s"] = t.checkpoint;
  j["offload_wait_s"] = t.offload;
  return j;
}

/// The packed documents' attention share over iterations [first, last): their mean (1 without documents).
double attention_share(const TrainingRecords& records, std::size_t first, std::size_t last) {
  if (!(records.attention_share_max > 0)) return 1;
  const auto& per = records.iteration_attention_share;
  if (last > per.size() || first >= last) return records.attention_share_mean;
  double sum = 0;
  for (std::size_t i = first; i < last; ++i) sum += per[i];
  return sum / static_cast<double>(last - first);
}
/// Megatron's attention term of an iteration, at the packed documents' share `share`.
double attention_flops(const TrainingRunInfo& info, double share) { return info.model_attention_flops * share; }
/// Megatron's model FLOPs of an iteration, the attention term at the packed documents' share `share`.
double model_flops(const TrainingRunInfo& info, double share) {
  return info.model_flops_per_iteration - info.model_attention_flops + attention_flops(info, share);
}

/// Whether a plan fits only with an offload or swap, and the peak it would have had without.
void add_fit_without(nlohmann::ordered_json& j, bool needed, double peak_without, int stage_without) {
  j["needed_to_fit"] = needed;
  j["peak_memory_without_gib"] = peak_without / kGiB;
  j["peak_memory_without_stage"] = stage_without;
}
/// The printed line that says so.
std::string fit_without_line(const char* what, bool needed, double peak_without, int stage_without, double capacity) {
  return needed ? fmt::format("              fits only with the {}: {:.1f} GiB on stage {} without it > {:.1f} GiB\n", what,
                              peak_without / kGiB, stage_without, capacity / kGiB)
                : fmt::format("              fits without it too ({:.1f} GiB peak on stage {})\n", peak_without / kGiB,
                              stage_without);
}

nlohmann::ordered_json offload_json(const TrainingRunInfo::Offload& o, const TrainingRecords& records) {
  nlohmann::ordered_json j;
  j["policy"] = o.policy;
  j["states_in"] = o.states_in;
  j["placement"] = o.placement;
  j["gpu_fraction"] = o.gpu_fraction;
  j["states_per_gpu_gib"] = o.states_per_gpu / kGiB;
  j["params_in"] = o.params_in;
  j["weights_per_gpu_gib"] = o.weights_per_gpu / kGiB;
  j["host_gib"] = o.host_bytes / kGiB;
  j["host_dram_gib"] = o.host_dram / kGiB;
  j["host_cxl_gib"] = o.host_cxl / kGiB;
  j["host_capacity_gib"] = o.host_capacity / kGiB;
  j["cxl_share"] = o.cxl_share;
  if (o.states_in == "nvme" || o.params_in == "nvme") {
    j["nvme_gib"] = o.nvme_bytes / kGiB;
    j["nvme_capacity_gib"] = o.nvme_capacity / kGiB;
  }
  j["cpu_update_s"] = o.cpu_update;
  j["step_s"] = records.offload_step;
  add_fit_without(j, o.needed, o.peak_without, o.stage_without);
  return j;
}

nlohmann::ordered_json swap_json(const TrainingRunInfo::Swap& o) {
  nlohmann::ordered_json j;
  j["policy"] = o.policy;
  j["fraction"] = o.fraction;
  j["fraction_chosen"] = o.automatic;
  j["bytes_per_pass_gib"] = o.bytes_per_pass / kGiB;
  j["swapped_per_gpu_gib"] = o.swapped_per_gpu / kGiB;
  j["host_gib"] = o.host_bytes / kGiB;
  j["host_capacity_gib"] = o.host_capacity / kGiB;
  j["rate_per_gpu_gbps"] = o.rate / 1e9;
  j["recompute_linear_share"] = o.recompute_linear;
  j["recompute_attention_share"] = o.recompute_attention;
  add_fit_without(j, o.needed, o.peak_without, o.stage_without);
  return j;
}

nlohmann::ordered_json checkpoint_json(const CheckpointRecord& c, const TrainingSummary& s) {
  nlohmann::ordered_json j;
  j["bytes_per_gpu_gib"] = c.bytes_per_gpu / kGiB;
  j["stall_s"] = c.stall;
  j["persist_s"] = c.persist();
  j["snapshot_wait_s"] = c.lazy_wait;
  j["restore_s"] = c.restore;
  j["interference_s"] = s.checkpoint_interference;
  j["clean_iterations"] = s.clean_iterations;
  j["clean_step_time_s"] = s.clean_step_time;
  return j;
}

}  // namespace

TrainingSummary summarize(const TrainingRunInfo& info, const TrainingRecords& records) {
  TrainingSummary s;
  s.iterations = static_cast<int>(records.iterations.size());
  const std::size_t first = records.iterations.size() > 1 ? 1 : 0;
  s.steady_iterations = static_cast<int>(records.iterations.size() - first);
  double span = 0;
  for (std::size_t i = first; i < records.iterations.size(); ++i) span += records.iterations[i].end - records.iterations[i].start;
  s.step_time = s.steady_iterations > 0 ? span / s.steady_iterations : 0;
  if (s.step_time <= 0) return s;
  const double tokens = static_cast<double>(info.global_batch * info.seq_len);
  s.tokens_per_s = tokens / s.step_time;
  s.tokens_per_s_per_gpu = s.tokens_per_s / info.gpus;
  // The attention the steady iterations' documents hold (iterations differ in their documents).
  const double share = attention_share(records, first, records.iterations.size());
  s.model_flops = model_flops(info, share);
  s.model_tflops_per_gpu = s.model_flops / s.step_time / info.gpus / 1e12;
  s.mfu = info.peak_flops > 0 ? s.model_tflops_per_gpu * 1e12 / info.peak_flops : 0;
  if (info.peak_flops > 0)
    s.mfu_causal = (model_flops(info, share) - attention_flops(info, share) / 2) / s.step_time / info.gpus /
                   info.peak_flops;
  s.time_to_train = info.train_tokens / s.tokens_per_s;
  // Executed FLOPs (recompute included) of the steady iterations, over their span: each group's
  // per-device FLOPs times its devices (iterations differ in their documents' attention).
  double executed = 0;
  for (std::size_t i = first; i < records.iterations.size(); ++i) executed += records.iterations[i].flops;
  executed *= static_cast<double>(info.group_devices()) * records.replicas_per_record / s.steady_iterations;
  s.hfu = info.peak_flops > 0 ? executed / s.step_time / info.gpus / info.peak_flops : 0;
  for (const auto& r : records.ranks) add(s.mean_times, r.times, 1.0 / (records.ranks.size() * std::max(1, s.iterations)));
  // Iterations the checkpoint's background copies overlapped, against those clear of them.
  const CheckpointRecord& ck = records.checkpoint;
  double clean = 0, overlapped = 0;
  int n_overlapped = 0;
  for (std::size_t i = first; i < records.iterations.size(); ++i) {
    const auto& it = records.iterations[i];
    if (ck.taken && it.start < ck.persist_end) {
      overlapped += it.end - it.start;
      ++n_overlapped;
    } else {
      clean += it.end - it.start;
      ++s.clean_iterations;
    }
  }
  s.clean_step_time = s.clean_iterations > 0 ? clean / s.clean_iterations : s.step_time;
  if (s.clean_iterations > 0) s.checkpoint_interference = std::max(0.0, overlapped - n_overlapped * s.clean_step_time);
  for (std::size_t p = 0; p < info.memory.size(); ++p)
    if (info.memory[p].total() > s.peak_memory) {
      s.peak_memory = info.memory[p].total();
      s.peak_memory_stage = static_cast<int>(p);
    }
  return s;
}

void write_training_results(const std::string& dir, const TrainingRunInfo& info, const TrainingRecords& records,
                            const TrainingSummary& summary, const training::ResilienceReport* resilience) {
  namespace fs = std::filesystem;
  const auto path = [&](const char* name) { return (fs::path(dir) / name).string(); };
  const double tokens = static_cast<double>(info.global_batch * info.seq_len);
  {
    AtomicFile f(path("iterations.csv"));
    f.write("iteration,start_s,end_s,step_time_s,tokens_per_s,tokens_per_s_per_gpu,model_tflops_per_gpu,mfu\n");
    for (std::size_t i = 0; i < records.iterations.size(); ++i) {
      const auto& it = records.iterations[i];
      const double t = it.end - it.start;
      const double tflops = model_flops(info, attention_share(records, i, i + 1)) / t / info.gpus / 1e12;
      f.print("{},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g},{:.6g},{:.6g}\n", i, it.start, it.end, t, tokens / t,
              tokens / t / info.gpus, tflops, info.peak_flops > 0 ? tflops * 1e12 / info.peak_flops : 0.0);
    }
    f.commit();
  }
  {
    AtomicFile f(path("ranks.csv"));
    f.write("pp,dp,first_rank,device,devices,compute_s,tp_comm_s,ep_comm_s,cp_comm_s,pp_bubble_s,pp_comm_s,dp_comm_s,optimizer_s,idle_s,checkpoint_s,offload_wait_s,"
            "peak_in_flight,mem_weights_gib,mem_gradients_gib,mem_optimizer_gib,mem_activations_gib,mem_buffers_gib,"
            "mem_reserve_gib,mem_total_gib\n");
    const double per = 1.0 / std::max(1, summary.iterations);
    for (const auto& r : records.ranks) {
      RankTimes t;
      add(t, r.times, per);
      f.print("{},{},{},{},{},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g},{}", r.pp, r.dp,
              r.first_rank, r.device, info.group_devices(), t.compute, t.tp_comm, t.ep_comm, t.cp_comm, t.pp_bubble, t.pp_comm, t.dp_comm, t.optimizer, t.idle, t.checkpoint,
              t.offload, r.peak_in_flight);
      if (static_cast<std::size_t>(r.pp) < info.memory.size()) {
        const auto& m = info.memory[static_cast<std::size_t>(r.pp)];
        f.print(",{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g}\n", m.weights / kGiB, m.gradients / kGiB,
                m.optimizer / kGiB, m.activations / kGiB, m.buffers / kGiB, m.reserve / kGiB, m.total() / kGiB);
      } else {
        f.write(",,,,,,,\n");
      }
    }
    f.commit();
  }
  {
    nlohmann::ordered_json j;
    j["scenario"] = info.scenario;
    j["file"] = info.file;
    j["kind"] = "training";
    j["seed"] = info.seed;
    j["model"] = info.model;
    j["cluster"] = info.cluster;
    j["gpus"] = info.gpus;
    j["plan"] = {{"tp", info.tp}, {"pp", info.pp}, {"dp", info.dp}, {"cp", info.cp}, {"ep", info.ep}, {"etp", info.etp}, {"sp", info.sp},
                 {"virtual_stages", info.virtual_stages}, {"zero", info.zero}};
    j["schedule"] = info.schedule;
    j["recompute"] = info.recompute;
    j["batch"] = {{"seq_len", info.seq_len}, {"global_batch", info.global_batch}, {"micro_batch", info.micro_batch},
                  {"microbatches", info.microbatches}};
    nlohmann::ordered_json t;
    t["iterations"] = summary.iterations;
    t["steady_iterations"] = summary.steady_iterations;
    t["step_time_s"] = summary.step_time;
    t["tokens_per_s"] = summary.tokens_per_s;
    t["tokens_per_s_per_gpu"] = summary.tokens_per_s_per_gpu;
    t["model_flops_per_iteration"] = summary.model_flops;
    t["model_tflops_per_gpu"] = summary.model_tflops_per_gpu;
    t["peak_tflops_per_gpu"] = info.peak_flops / 1e12;
    t["peak_dtype"] = info.peak_dtype;
    t["mfu"] = summary.mfu;
    t["mfu_causal"] = summary.mfu_causal;
    t["hfu"] = summary.hfu;
    if (info.train_tokens > 0) {
      t["train_tokens"] = info.train_tokens;
      t["time_to_train_days"] = summary.time_to_train / 86400;
      t["gpu_hours"] = summary.time_to_train / 3600 * info.gpus;
    }
    t["time_per_iteration"] = times_json(summary.mean_times);
    if (records.checkpoint.taken) {
      t["checkpoint"] = checkpoint_json(records.checkpoint, summary);
      t["checkpoint"]["policy"] = info.checkpoint;
    }
    if (info.offload) t["offload"] = offload_json(*info.offload, records);
    if (info.swap) t["activation_offload"] = swap_json(*info.swap);
    if (records.attention_share_max > 0)
      t["documents"] = {{"attention_share_mean", records.attention_share_mean},
                        {"attention_share_min", records.attention_share_min},
                        {"attention_share_max", records.attention_share_max}};
    if (info.sharding) {
      const auto& s = *info.sharding;
      t["sequence_sharding"] = {{"policy", s.policy},
                                {"balance", s.balance},
                                {"pool_ranks", s.pool_ranks},
                                {"capacity_tokens", s.capacity},
                                {"rings_per_iteration", s.rings},
                                {"ring_ranks_mean", s.ring_ranks_mean},
                                {"ring_ranks_max", s.ring_ranks_max},
                                {"attention_imbalance", s.attention_imbalance}};
    }
    if (resilience) t["resilience"] = resilience_json(*resilience, info.gpus);
    if (!info.memory.empty()) {
      t["peak_memory_gib"] = summary.peak_memory / kGiB;
      t["peak_memory_stage"] = summary.peak_memory_stage;
      t["device_memory_gib"] = info.device_memory / kGiB;
    }
    j["training"] = t;
    j["engine"] = {{"passes", records.passes}, {"transfers", records.transfers},
                   {"simulated_replicas", info.stage_groups() / records.replicas_per_record}};
    AtomicFile f(path("summary.json"));
    f.write(j.dump(2) + "\n");
    f.commit();
  }
  {
    AtomicFile f(path("resolved.yaml"));
    f.write(info.resolved_yaml);
    f.commit();
  }
  if (!records.memory.empty() && !info.memory.empty()) {
    // Memory over time: every change of the activations a rank group holds, with one device's total.
    AtomicFile f(path("memory.csv"));
    f.write("time_s,pp,dp,held_chunks,activations_gib,total_gib\n");
    for (const auto& m : records.memory) {
      const RankRecord& r = records.ranks[m.group];
      const auto& mem = info.memory[static_cast<std::size_t>(r.pp)];
      const double activations = mem.activations * m.held / std::max(1, mem.held_chunks);
      f.print("{:.9g},{},{},{},{:.6g},{:.6g}\n", m.time, r.pp, r.dp, m.held, activations / kGiB,
              mem.total_holding(m.held) / kGiB);
    }
    f.commit();
  }
  if (!records.timeline.empty()) {
    // Chrome trace (chrome://tracing, ui.perfetto.dev): a process per rank group, a thread per stream.
    AtomicFile f(path("timeline.json"));
    f.write("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n");
    bool first = true;
    // The offload stream only where an offloaded optimizer step ran.
    const bool offload = std::any_of(records.timeline.begin(), records.timeline.end(),
                                     [](const TimelineSpan& sp) { return sp.stream == TimelineSpan::Stream::offload; });
    const int streams = offload ? 5 : 4;
    for (const auto& r : records.ranks) {
      const std::size_t g = static_cast<std::size_t>(&r - records.ranks.data());
      f.print("{}{{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":{},\"args\":{{\"name\":\"stage {} dp {} (rank {})\"}}}}",
              first ? "" : ",\n", g, r.pp, r.dp, r.first_rank);
      first = false;
      for (int s = 0; s < streams; ++s)
        f.print(",\n{{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":{},\"tid\":{},\"args\":{{\"name\":\"{}\"}}}}", g, s,
                kStreamNames[s]);
    }
    for (const auto& sp : records.timeline) {
      f.print(",\n{{\"ph\":\"X\",\"pid\":{},\"tid\":{},\"name\":\"{}\",\"ts\":{:.3f},\"dur\":{:.3f}", sp.group,
              static_cast<int>(sp.stream), sp.name, sp.start * 1e6, (sp.end - sp.start) * 1e6);
      if (sp.microbatch >= 0 || sp.chunk >= 0) f.print(",\"args\":{{\"microbatch\":{},\"chunk\":{}}}", sp.microbatch, sp.chunk);
      f.write("}");
    }
    // Memory per device of each rank group over time, as a counter track.
    for (const auto& m : records.memory) {
      const auto pp = static_cast<std::size_t>(records.ranks[m.group].pp);
      if (pp >= info.memory.size()) continue;
      f.print(",\n{{\"ph\":\"C\",\"pid\":{},\"name\":\"memory per GPU\",\"ts\":{:.3f},\"args\":{{\"GiB\":{:.4f}}}}}",
              m.group, m.time * 1e6, info.memory[pp].total_holding(m.held) / kGiB);
    }
    f.write("\n]}\n");
    f.commit();
  }
  if (resilience) write_failures(dir, *resilience);
}

std::string training_summary_table(const TrainingRunInfo& info, const TrainingRecords& records, const TrainingSummary& s,
                                   const training::ResilienceReport* resilience) {
  std::string out;
  out += fmt::format("  scenario    {} ({})\n", info.scenario, info.file);
  out += fmt::format("  model       {} on {}\n", info.model, info.cluster);
  out += fmt::format("  job         seq {} x global batch {} (micro {} x {} per DP rank), {}, recompute {}\n", info.seq_len,
                     info.global_batch, info.micro_batch, info.microbatches, info.schedule, info.recompute);
  out += fmt::format("  iteration   {:.4f} s (mean of {} of {} iterations)\n", s.step_time, s.steady_iterations, s.iterations);
  out += fmt::format("  throughput  {:.0f} tokens/s, {:.1f} tokens/s/GPU\n", s.tokens_per_s, s.tokens_per_s_per_gpu);
  out += fmt::format("  FLOPs       {:.1f} model TFLOP/s/GPU, MFU {:.1f}% ({:.1f}% with causal attention), HFU {:.1f}% "
                     "(peak {:.0f} TFLOP/s {})\n",
                     s.model_tflops_per_gpu, 100 * s.mfu, 100 * s.mfu_causal, 100 * s.hfu, info.peak_flops / 1e12,
                     info.peak_dtype);
  if (info.train_tokens > 0)
    out += fmt::format("  to train    {:.4g} tokens: {:.1f} days, {:.3g} GPU-hours\n", info.train_tokens,
                       s.time_to_train / 86400, s.time_to_train / 3600 * info.gpus);
  const RankTimes& t = s.mean_times;
  // The passes' own collectives: the TP group's, and with expert parallelism the MoE all-to-alls apart.
  out += fmt::format("  time/iter   compute {:.3f} s, TP comm {:.3f}{}{}, PP bubble {:.3f}, PP comm {:.3f}, DP comm {:.3f}, "
                     "optimizer {:.3f}, idle {:.3f}{}{} (mean over rank groups)\n",
                     t.compute, t.tp_comm, info.ep > 1 || t.ep_comm > 0 ? fmt::format(", EP comm {:.3f}", t.ep_comm) : "",
                     info.cp > 1 || t.cp_comm > 0 ? fmt::format(", CP comm {:.3f}", t.cp_comm) : "",
                     t.pp_bubble, t.pp_comm, t.dp_comm,
                     t.optimizer, t.idle, t.checkpoint > 0 ? fmt::format(", checkpoint {:.3f}", t.checkpoint) : "",
                     info.swap || (info.offload && info.offload->params_in != "device")
                         ? fmt::format(", offload wait {:.3f}", t.offload)
                         : "");
  if (s.peak_memory_stage >= 0)
    out += fmt::format("  memory      peak {:.1f} GiB of {:.1f} GiB per GPU, on pipeline stage {}\n", s.peak_memory / kGiB,
                       info.device_memory / kGiB, s.peak_memory_stage);
  const CheckpointRecord& ck = records.checkpoint;
  if (ck.taken) {
    const int overlapped = s.steady_iterations - s.clean_iterations;
    const std::string slowdown =
        overlapped == 0           ? ""
        : s.clean_iterations == 0 ? " (its slowdown of training unmeasured: no later iteration is clear of it)"
                                  : fmt::format(" (+{:.3f} s on the {} iteration{} it overlapped)", s.checkpoint_interference,
                                                overlapped, overlapped == 1 ? "" : "s");
    out += fmt::format("  checkpoint  {}: {:.2f} GiB per GPU; stall {:.3f} s, then {:.3f} s in the background{}, restore "
                       "{:.3f} s\n",
                       info.checkpoint, ck.bytes_per_gpu / kGiB, ck.stall, ck.persist(), slowdown, ck.restore);
    if (ck.lazy_wait > 0)
      out += fmt::format("              the next optimizer step waited {:.3f} s for the lazy snapshot\n", ck.lazy_wait);
  }
  if (records.attention_share_max > 0)
    out += fmt::format("  documents   packed, masked per document: attention work {:.1f}% of whole-sequence causal per "
                       "micro-batch (min {:.1f}%, max {:.1f}%)\n",
                       100 * records.attention_share_mean, 100 * records.attention_share_min,
                       100 * records.attention_share_max);
  if (info.sharding) {
    const auto& sh = *info.sharding;
    out += fmt::format("  sharding    {}{}: {} ranks of {:.0f} tokens per micro-batch; per iteration {:.1f} documents ringed "
                       "over {:.1f} ranks on average (at most {}), the busiest rank's attention {:.2f}x the mean\n",
                       sh.policy, sh.balance ? " (balanced)" : "", sh.pool_ranks, sh.capacity, sh.rings, sh.ring_ranks_mean,
                       sh.ring_ranks_max, sh.attention_imbalance);
  }
  if (info.offload) {
    const auto& o = *info.offload;
    const std::string where =
        o.states_in == "nvme"
            ? fmt::format("on NVMe ({:.1f} of {:.0f} GiB on the busiest SSD)", o.nvme_bytes / kGiB, o.nvme_capacity / kGiB)
            : fmt::format("in host memory ({} placement, {:.0f}% in CXL)", o.placement, 100 * o.cxl_share);
    out += fmt::format("  offload     {}: {:.1f} GiB of optimizer states per GPU {}; host {:.1f} GiB DRAM + {:.1f} GiB CXL "
                       "of {:.1f} GiB per node; step {:.3f} s (CPU update {:.3f} s{})\n",
                       o.policy, o.states_per_gpu / kGiB, where, o.host_dram / kGiB, o.host_cxl / kGiB,
                       o.host_capacity / kGiB, records.offload_step, o.cpu_update,
                       o.gpu_fraction > 0 ? fmt::format(", {:.0f}% of it on the GPU", 100 * o.gpu_fraction) : "");
    if (o.params_in != "device")
      out += fmt::format("              and {:.1f} GiB of weights per GPU in {}, fetched by every pass\n",
                         o.weights_per_gpu / kGiB, o.params_in == "nvme" ? "NVMe" : "host memory");
    out += fit_without_line("offload", o.needed, o.peak_without, o.stage_without, info.device_memory);
  }
  if (info.swap) {
    const auto& o = *info.swap;
    out += fmt::format("  swap        {}: fraction {:.3g}{}; {:.2f} GiB per GPU each way per micro-batch at {:.1f} GB/s; "
                       "{:.1f} GiB per GPU in host memory ({:.1f} of {:.1f} GiB per node); backward recomputes {:.0f}% "
                       "of the layers' linear work and {:.0f}% of their attention\n",
                       o.policy, o.fraction, o.automatic ? " (chosen)" : "", o.bytes_per_pass / kGiB, o.rate / 1e9,
                       o.swapped_per_gpu / kGiB, o.host_bytes / kGiB, o.host_capacity / kGiB, 100 * o.recompute_linear,
                       100 * o.recompute_attention);
    out += fit_without_line("swap", o.needed, o.peak_without, o.stage_without, info.device_memory);
  }
  if (resilience) out += resilience_summary_lines(*resilience, info.gpus, info.train_tokens);
  return out;
}

}  // namespace hetsim::sim
