#include "calibrate/vidur_import.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "sim/core/config.hpp"
#include "sim/core/error.hpp"
#include "sim/core/io/csv.hpp"

namespace hetsim::calibrate {
namespace fs = std::filesystem;

namespace {

/// Vidur measured fp16 kernels (README of data/profiling) with times in milliseconds.
constexpr double kBytes = 2;
constexpr double kMillisecond = 1e-3;

double number(const workload::CsvReader& csv, std::size_t col, const char* name) {
  double v = 0;
  if (!config::detail::convert(csv.field(col), v) || !(v >= 0))
    csv.fail(fmt::format("{} = \"{}\": expected a number >= 0", name, csv.field(col)));
  return v;
}

Measurement gemm(std::string_view op, double m, double n, double k) {
  Measurement r;
  r.cls = OpClass::gemm;
  r.kernel = fmt::format("vidur_{}", op);
  r.flops = 2 * m * n * k;
  r.bytes = (k * n + m * k + m * n) * kBytes;  // weights once, activations in and out (as models/ prices them)
  r.shape = fmt::format("m={};n={};k={}", m, n, k);
  return r;
}

Measurement elementwise(std::string_view op, double flops, double bytes, double tokens) {
  Measurement r;
  r.cls = OpClass::elementwise;
  r.kernel = fmt::format("vidur_{}", op);
  r.flops = flops;
  r.bytes = bytes;
  r.shape = fmt::format("tokens={}", tokens);
  return r;
}

}  // namespace

std::string shape_text(const std::string& shape, const std::string& key, const std::string& fallback) {
  std::size_t pos = 0;
  while (pos < shape.size()) {
    const std::size_t end = std::min(shape.find(';', pos), shape.size());
    if (shape.compare(pos, key.size() + 1, key + "=") == 0) return shape.substr(pos + key.size() + 1, end - pos - key.size() - 1);
    pos = end + 1;
  }
  return fallback;
}

double shape_field(const std::string& shape, const std::string& key, double fallback) {
  double v = 0;
  const std::string text = shape_text(shape, key);
  return !text.empty() && config::detail::convert(text, v) ? v : fallback;
}

std::vector<Measurement> import_vidur_ops(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw InputError(fmt::format("{}: not a directory (expected Vidur's compute/GPU folder)", dir.string()));
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().string().ends_with(".mlp.csv")) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  if (files.empty()) throw InputError(fmt::format("{}: no *.mlp.csv files (expected Vidur's per-model op profiles)", dir.string()));
  std::vector<Measurement> out;
  for (const fs::path& file : files) {
    std::string model = file.filename().string();
    model.resize(model.size() - std::string(".mlp.csv").size());
    workload::CsvReader csv(file.string());
    const auto c_heads = csv.column("n_head"), c_kv = csv.column("n_kv_head"), c_h = csv.column("n_embd");
    const auto c_ffn = csv.column("n_expanded_embd"), c_gated = csv.column("use_gated_mlp");
    const auto c_tokens = csv.column("num_tokens"), c_tp = csv.column("num_tensor_parallel_workers");
    // Models without an op (phi-2: parallel attention and MLP, no post-attention norm) lack its column.
    auto median = [&](const char* op) { return csv.find_column(fmt::format("time_stats.{}.median", op)); };
    struct Timed {
      const char* op;
      std::optional<std::size_t> col;
    };
    const Timed timed[] = {{"attn_pre_proj", median("attn_pre_proj")},   {"attn_post_proj", median("attn_post_proj")},
                           {"mlp_up_proj", median("mlp_up_proj")},       {"mlp_down_proj", median("mlp_down_proj")},
                           {"mlp_act", median("mlp_act")},               {"input_layernorm", median("input_layernorm")},
                           {"post_attention_layernorm", median("post_attention_layernorm")},
                           {"attn_rope", median("attn_rope")}};
    const auto add = median("add");
    while (csv.next()) {
      const double heads_all = number(csv, c_heads, "n_head"), h = number(csv, c_h, "n_embd");
      const double tp = number(csv, c_tp, "num_tensor_parallel_workers"), T = number(csv, c_tokens, "num_tokens");
      if (heads_all < 1 || h < 1 || tp < 1 || T < 1) csv.fail("n_head, n_embd, num_tensor_parallel_workers and num_tokens must be >= 1");
      const double hd = h / heads_all, heads = heads_all / tp;
      const double kv = std::max(1.0, number(csv, c_kv, "n_kv_head") / tp);
      const double inter = number(csv, c_ffn, "n_expanded_embd") / tp;
      const bool gated = csv.field(c_gated) == "True" || csv.field(c_gated) == "true" || csv.field(c_gated) == "1";
      const double rope = T * (heads + kv) * hd;
      // The residual add Vidur times on its own; hetsim's norms fuse it (vLLM's fused_add_rms_norm).
      const double add_seconds = add ? number(csv, *add, "add") * kMillisecond : 0.0;
      for (const Timed& t : timed) {
        if (!t.col) continue;
        const std::string_view op = t.op;
        Measurement m;
        // Each measurement carries the FLOPs and bytes models/dense_transformer.cpp charges for the
        // op it times (`m.op`), so a curve fitted to it prices that op.
        if (op == "attn_pre_proj") m = gemm(op, T, (heads + 2 * kv) * hd, h), m.op = "qkv_proj";
        else if (op == "attn_post_proj") m = gemm(op, T, h, heads * hd), m.op = "o_proj";
        else if (op == "mlp_up_proj") m = gemm(op, T, (gated ? 2 : 1) * inter, h), m.op = "gate_up_proj";
        else if (op == "mlp_down_proj") m = gemm(op, T, h, inter), m.op = "down_proj";
        else if (op == "mlp_act") m = elementwise(op, 5 * T * inter, (gated ? 3 : 2) * T * inter * kBytes, T), m.op = "silu_mul";
        else if (op == "attn_rope") m = elementwise(op, 3 * rope, 2 * rope * kBytes, T), m.op = "rope";
        else if (op == "input_layernorm")  // RMSNorm with the residual add fused: read x and the residual, write y; the weight
          m = elementwise("input_layernorm+add", 4 * T * h, (3 * T * h + h) * kBytes, T), m.op = "input_norm";
        else
          m = elementwise("post_attention_layernorm+add", 5 * T * h, (3 * T * h + h) * kBytes, T), m.op = "post_attention_norm";
        m.dtype = DType::fp16;
        m.seconds = number(csv, *t.col, t.op) * kMillisecond;
        if (m.op == "input_norm" || m.op == "post_attention_norm") m.seconds += add_seconds;
        m.group = model;
        m.shape += fmt::format(";tp={};tokens={}", tp, T);
        if (m.seconds > 0) out.push_back(std::move(m));
      }
    }
  }
  return out;
}

std::vector<Measurement> import_vidur_collectives(const fs::path& file) {
  workload::CsvReader csv(file.string());
  const auto c_kind = csv.column("collective"), c_ranks = csv.column("num_workers"), c_size = csv.column("size");
  const auto c_dpn = csv.column("devices_per_node");
  std::vector<Measurement> out;
  while (csv.next()) {
    const std::string kind = csv.field(c_kind);
    if (kind != "all_reduce" && kind != "send_recv")
      csv.fail(fmt::format("collective = \"{}\": expected all_reduce or send_recv", kind));
    const auto time = csv.column(fmt::format("time_stats.{}.median", kind));
    const double ranks = number(csv, c_ranks, "num_workers"), dpn = number(csv, c_dpn, "devices_per_node");
    if (ranks < 2 || dpn < 1) csv.fail("num_workers must be >= 2 and devices_per_node >= 1");
    const double nodes = std::ceil(ranks / dpn);
    Measurement m;
    m.cls = OpClass::collective;
    m.kernel = fmt::format("nccl_{}", kind);
    m.dtype = DType::fp16;
    m.bytes = number(csv, c_size, "size");
    m.seconds = number(csv, time, "time") * kMillisecond;
    m.shape = fmt::format("collective={};ranks={};nodes={};payload={}", kind, ranks, nodes, m.bytes);
    m.group = fmt::format("{}/{}", ranks, nodes);
    if (m.seconds > 0 && m.bytes > 0) out.push_back(std::move(m));
  }
  return out;
}

}  // namespace hetsim::calibrate
