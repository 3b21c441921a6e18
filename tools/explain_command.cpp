#include "tools/explain_command.hpp"

#include <fmt/format.h>

#include <charconv>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "sim/core/error.hpp"
#include "sim/core/io/atomic_file.hpp"
#include "sim/core/io/csv.hpp"
#include "sim/core/io/result_folder.hpp"
#include "sim/serving/step_pricer.hpp"

namespace hetsim::tools {

namespace {

/// A whole non-negative integer, or nullopt.
std::optional<std::int64_t> whole(std::string_view text) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || v < 0) return std::nullopt;
  return v;
}

[[noreturn]] void bad_flag(std::string_view flag, std::string_view value, std::string_view expected) {
  throw InputError(fmt::format("{} {}: expected {}", flag, value, expected));
}

std::string_view limiter_name(hw::Limiter l) {
  switch (l) {
    case hw::Limiter::compute: return "compute";
    case hw::Limiter::memory: return "memory";
    case hw::Limiter::sram: return "sram";
    case hw::Limiter::link: return "link";
    case hw::Limiter::storage: return "storage";
  }
  return "?";
}

/// Where an op's efficiency comes from: the device's curve for its class (profile, catalog default
/// or the stack's attention curves), or a collective's measured table.
std::string source_of(const hw::Device& device, const Op& op, const hw::Breakdown& terms) {
  if (terms.split_share >= 0 && device.split) {
    // Split over two engines: each part priced by its engine's curve.
    const hw::ComputeEngine &own = device.compute(), &with = device.engines[device.split->with];
    return fmt::format("split {} {:.0f}% / {} {:.0f}% ({}; {})", own.name, 100 * terms.split_share, with.name,
                       100 * (1 - terms.split_share), device.eff(op, own).source, device.eff(op, with).source);
  }
  const std::string& curve = device.eff(op).source;
  if (op.cls != OpClass::collective) return curve.empty() ? "catalog default" : curve;
  if (device.measured(op.collective, op.group, op.group_nodes))
    return fmt::format("measured {} table, {} ranks ({})", to_string(op.collective), op.group, curve);
  return fmt::format("alpha-beta {} model ({})", to_string(op.collective), curve.empty() ? "catalog default" : curve);
}

/// The batch of one row of a steps.csv written with output.step_detail: true.
struct StepRow {
  std::size_t replica = 0;
  models::BatchShape batch;
  double gpu = 0, host = 0;
};

StepRow read_step_row(const std::string& path, std::int64_t row) {
  if (row < 1) bad_flag("--row", std::to_string(row), "a step number >= 1 (1 = the first data row of --steps)");
  workload::CsvReader csv(path);
  if (!csv.find_column("prefill_chunks"))
    throw InputError(fmt::format("{}: no batch-detail columns (prefill_chunks, ...); rerun the scenario with "
                                 "--set output.step_detail=true",
                                 path));
  const std::size_t replica = csv.column("replica"), prefill = csv.column("prefill_tokens"),
                    chunks = csv.column("prefill_chunks"), context = csv.column("prefill_context_tokens"),
                    pairs = csv.column("prefill_attention_pairs"), logits = csv.column("logit_tokens"),
                    decodes = csv.column("decode_seqs"), decode_context = csv.column("decode_context_tokens"),
                    gpu = csv.column("gpu_s"), host = csv.column("host_s");
  for (std::int64_t i = 0; i < row; ++i)
    if (!csv.next()) throw InputError(fmt::format("--row {}: {} has only {} steps", row, path, i));
  auto integer = [&](std::size_t column) {
    auto v = whole(csv.field(column));
    if (!v) csv.fail(fmt::format("column {}: '{}': expected a whole number", column + 1, csv.field(column)));
    return *v;
  };
  auto real = [&](std::size_t column) {
    double v = 0;
    const std::string& text = csv.field(column);
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) csv.fail(fmt::format("column {}: '{}': expected a number", column + 1, text));
    return v;
  };
  StepRow r;
  r.replica = static_cast<std::size_t>(integer(replica));
  models::BatchShape& b = r.batch;
  b.prefill_tokens = integer(prefill);
  b.prefill_chunks = integer(chunks);
  b.prefill_attn_pairs = static_cast<double>(integer(pairs));
  b.prefill_kv_read_tokens = static_cast<double>(integer(context) + b.prefill_tokens);
  b.logit_tokens = integer(logits);
  b.decode_seqs = integer(decodes);
  b.decode_context_tokens = static_cast<double>(integer(decode_context));
  r.gpu = real(gpu);
  r.host = real(host);
  // A speculative step's time includes the drafter's passes, which the step row does not describe.
  if (const auto drafts = csv.find_column("draft_tokens"); drafts && integer(*drafts) > 0)
    throw InputError(fmt::format("--row {}: the step verified {} draft tokens (speculative decoding); explain "
                                 "reprices plain steps only, not the drafter's passes",
                                 row, integer(*drafts)));
  return r;
}

std::string describe_batch(const models::BatchShape& b) {
  std::string text;
  if (b.prefill_chunks > 0) {
    const double context = b.prefill_kv_read_tokens - static_cast<double>(b.prefill_tokens);
    text = fmt::format("{} prompt chunk{} ({} tokens after {:.0f} cached)", b.prefill_chunks, b.prefill_chunks == 1 ? "" : "s",
                       b.prefill_tokens, context);
  }
  if (b.decode_seqs > 0)
    text += fmt::format("{}{} decode{} (mean context {:.0f})", text.empty() ? "" : ", ", b.decode_seqs,
                        b.decode_seqs == 1 ? "" : "s", b.decode_context_tokens / static_cast<double>(b.decode_seqs));
  return text;
}

/// Achieved fraction of the roofline: the ideal time (efficiencies 1) over the modelled one.
double roofline_fraction(const hw::CostModel& ideal, const serving::OpCost& c) {
  const double modelled = c.terms.bound();
  return modelled > 0 ? ideal.roofline_bound(c.op) / c.op.repeat / modelled : 1.0;
}

void write_files(const std::string& dir, const nlohmann::ordered_json& summary, const serving::StepExplanation& x,
                 const hw::CostModel& ideal, const hw::Device& device) {
  ResultFolder folder(dir);
  AtomicFile csv((std::filesystem::path(folder.staging()) / "explain.csv").string());
  csv.write("op,class,dtype,repeat,kernels,flops,weight_bytes,activation_bytes,kv_bytes,comm_bytes,compute_s,memory_s,"
            "link_s,sram_s,storage_s,blend,bound,roofline_fraction,overhead_s,time_s,share,efficiency_source\n");
  for (const auto& c : x.ops) {
    const Op& op = c.op;
    std::string source = source_of(device, op, c.terms);
    for (char& ch : source)
      if (ch == ',') ch = ';';
    csv.print("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", op.name, to_string(op.cls),
              to_string(op.dtype), op.repeat, op.kernels, op.flops, op.weights.bytes, op.activations.bytes, op.kv.bytes,
              op.comm_bytes, c.terms.compute, c.terms.memory, c.terms.link, c.terms.sram, c.terms.storage, c.terms.blend,
              limiter_name(c.terms.limiter), roofline_fraction(ideal, c), c.time - op.repeat * c.terms.bound(), c.time,
              x.step > 0 ? c.time / x.step : 0.0, source);
  }
  AtomicFile json((std::filesystem::path(folder.staging()) / "explain.json").string());
  json.write(summary.dump(2));
  json.write("\n");
  csv.close();
  json.close();
  csv.commit();
  json.commit();
  folder.publish();
}

}  // namespace

models::BatchShape parse_batch(const std::vector<std::string>& prefills, const std::vector<std::string>& decodes) {
  models::BatchShape b;
  for (const std::string& text : prefills) {
    std::string_view rest = text;
    bool partial = false;
    if (rest.ends_with(":partial")) partial = true, rest.remove_suffix(8);
    const auto at = rest.find('@');
    const auto chunk = whole(rest.substr(0, at));
    const auto context = at == std::string_view::npos ? std::optional<std::int64_t>(0) : whole(rest.substr(at + 1));
    if (!chunk || *chunk < 1 || !context)
      bad_flag("--prefill", text, "C[@P][:partial]: C >= 1 prompt tokens after P cached ones (default 0); ':partial' "
                                  "when the chunk does not end its prompt");
    b.add_prefill(*chunk, *context, !partial);
  }
  for (const std::string& text : decodes) {
    const auto at = text.find('@');
    const auto seqs = whole(std::string_view(text).substr(0, at));
    const auto context = at == std::string::npos ? std::nullopt : whole(std::string_view(text).substr(at + 1));
    if (!seqs || *seqs < 1 || !context || *context < 1)
      bad_flag("--decode", text, "N@CTX: N >= 1 sequences, each with CTX >= 1 tokens (prompt + generated) in its KV cache");
    for (std::int64_t i = 0; i < *seqs; ++i) b.add_decode(*context + 1);  // the new token is attended to too
  }
  return b;
}

int run_explain(const sim::Scenario& sc, const ExplainOptions& o) {
  const bool from_steps = !o.steps.empty();
  if (from_steps && (!o.prefills.empty() || !o.decodes.empty() || o.tp || !o.pool.empty()))
    throw InputError("--steps: the step's batch, replica and TP come from the file; drop --prefill, --decode, --tp and --pool");
  if (!from_steps && o.prefills.empty() && o.decodes.empty())
    throw InputError("no batch: give --prefill C[@P] and/or --decode N@CTX, or --steps FILE --row N");

  std::optional<StepRow> row;
  const sim::ReplicaPlan* plan = &sc.replicas.front();
  models::BatchShape batch;
  if (from_steps) {
    row = read_step_row(o.steps, o.row);
    if (row->replica >= sc.replicas.size())
      throw InputError(fmt::format("{} row {}: replica {}, but the scenario has {} replicas: is the file from a run of this "
                                   "scenario?",
                                   o.steps, o.row, row->replica, sc.replicas.size()));
    plan = &sc.replicas[row->replica];
    batch = row->batch;
  } else {
    batch = parse_batch(o.prefills, o.decodes);
    if (!o.pool.empty()) {
      auto it = std::find_if(sc.replicas.begin(), sc.replicas.end(), [&](const sim::ReplicaPlan& r) { return r.pool == o.pool; });
      if (it == sc.replicas.end()) {
        std::string pools;
        for (const auto& r : sc.replicas)
          if (pools.find(r.pool) == std::string::npos) pools += (pools.empty() ? "" : ", ") + r.pool;
        bad_flag("--pool", o.pool, fmt::format("a pool of the scenario: {}", pools));
      }
      plan = &*it;
    }
  }
  ParallelPlan parallel = plan->parallel;
  if (o.tp) {
    if (*o.tp < 1) bad_flag("--tp", std::to_string(*o.tp), "a tensor-parallel degree >= 1");
    if (auto problem = sc.model.tensor_parallel_problem(*o.tp); !problem.empty()) bad_flag("--tp", std::to_string(*o.tp), problem);
    parallel.tp = *o.tp;
  }

  // The pricer refuses to take apart a step whose attention runs on offload devices.
  serving::StepPricer pricer(sc.model, parallel, *plan->device, plan->placement, *plan->stack, plan->offload);
  pricer.span_nodes(plan->span_devices_per_node, plan->scale_out);
  const serving::StepExplanation x = pricer.explain(batch);
  const hw::Device& device = pricer.device();
  const hw::CostModel ideal(device);
  const hw::ServingStack& stack = *plan->stack;

  if (row && (row->gpu != x.gpu || row->host != x.host))
    throw InputError(fmt::format("{} row {}: the run priced this step GPU {} s + host {} s, this scenario prices it GPU {} s + "
                                 "host {} s; is the file from a run of this scenario (its resolved.yaml)?",
                                 o.steps, o.row, row->gpu, row->host, x.gpu, x.host));

  fmt::print("{} on {} TP{}, serving stack {}: {}\n", sc.model.name, device.name, parallel.tp, stack.name, describe_batch(batch));
  if (!sc.model.precision.uniform()) fmt::print("precision: {}\n", sc.model.precision.describe());
  fmt::print("{}\n\n", x.graphed ? "replays a CUDA graph: no per-kernel host dispatch"
                                 : fmt::format("eager: {:.1f} us host dispatch per kernel", stack.launch * 1e6));
  fmt::print("FLOPs and bytes per instance; x instances (layers); launch, time and share cover all of them.\n");
  fmt::print("{:<22} {:<17} {:>5} {:>5} {:>10} {:>9} {:>9} {:>9} {:>9}  {:<7} {:>6} {:>9} {:>10} {:>6}  {}\n", "op", "class",
             "dtype", "x", "GFLOP", "weight MB", "act MB", "KV MB", "comm MB", "bound", "roof%", "launch us", "time us",
             "share", "efficiency from");
  for (const auto& c : x.ops) {
    const Op& op = c.op;
    fmt::print("{:<22} {:<17} {:>5} {:>5} {:>10.3f} {:>9.2f} {:>9.2f} {:>9.2f} {:>9.2f}  {:<7} {:>5.0f}% {:>9.1f} {:>10.1f} {:>5.1f}%  {}\n",
               op.name, to_string(op.cls), to_string(op.dtype), op.repeat, op.flops / 1e9, op.weights.bytes / 1e6,
               op.activations.bytes / 1e6, op.kv.bytes / 1e6, op.comm_bytes / 1e6, limiter_name(c.terms.limiter),
               100 * roofline_fraction(ideal, c), (c.time - op.repeat * c.terms.bound()) * 1e6, c.time * 1e6,
               x.step > 0 ? 100 * c.time / x.step : 0.0, source_of(device, op, c.terms));
  }
  const std::int64_t seqs = batch.decode_seqs + batch.prefill_chunks;
  fmt::print("\n{:<40} {:>12.1f} us\n", "GPU (sum of the ops)", x.gpu * 1e6);
  fmt::print("{:<40} {:>12.1f} us  = {:.1f} per step + {:.1f} x {} sequences + {:.3f} x {} prompt tokens\n",
             fmt::format("host ({})", stack.name), x.host * 1e6, stack.step_overhead * 1e6, stack.per_sequence * 1e6, seqs,
             stack.per_prefill_token * 1e6, batch.prefill_tokens);
  fmt::print("{:<40} {:>12.1f} us  ({})\n", "step", x.step * 1e6,
             stack.overlap_host ? "max(host, GPU): the host overlaps the GPU" : "host + GPU");
  if (row) fmt::print("matches {} row {}: GPU {} s, host {} s (bit-identical)\n", o.steps, o.row, row->gpu, row->host);

  if (!o.out.empty()) {
    nlohmann::ordered_json j;
    j["scenario"] = sc.name;
    j["model"] = sc.model.name;
    j["device"] = device.name;
    j["tensor_parallel"] = parallel.tp;
    j["serving_stack"] = stack.name;
    j["precision"] = sc.model.precision.describe();
    j["batch"] = {{"prefill_tokens", batch.prefill_tokens},
                  {"prefill_chunks", batch.prefill_chunks},
                  {"prefill_attention_pairs", batch.prefill_attn_pairs},
                  {"prefill_kv_read_tokens", batch.prefill_kv_read_tokens},
                  {"logit_tokens", batch.logit_tokens},
                  {"decode_seqs", batch.decode_seqs},
                  {"decode_context_tokens", batch.decode_context_tokens}};
    j["graphed"] = x.graphed;
    j["host_s"] = {{"step", x.host_step}, {"sequences", x.host_sequences}, {"prompt_tokens", x.host_prompt_tokens}, {"total", x.host}};
    j["gpu_s"] = x.gpu;
    j["overlap_host"] = stack.overlap_host;
    j["step_s"] = x.step;
    // The roofs of the report's roofline plot: the model engine's peaks and its home tier's bandwidth.
    const hw::ComputeEngine& engine = device.engines[device.engine];
    nlohmann::ordered_json peaks;
    for (DType d : kDTypes)
      if (engine.peak(d) > 0) peaks[std::string(to_string(d))] = engine.peak(d);
    j["peak_flops"] = peaks;
    j["memory_bandwidth"] = device.tiers[engine.home_tier].read_bandwidth;
    write_files(o.out, j, x, ideal, device);
    fmt::print("wrote {}/explain.csv and explain.json (plot: hetsim report {})\n", o.out, o.out);
  }
  return 0;
}

}  // namespace hetsim::tools
