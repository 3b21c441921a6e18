"""The training run report's tables: summary.json's numbers, the time breakdown and the memory
per pipeline stage."""

from .formatting import fmt, pct
from .train_inputs import MEMORY_COMPONENTS, TIME_COMPONENTS


def get(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def plan_text(plan):
    """'TP 4 x PP 4 x DP 4, SP, ZeRO-1' from summary.json's plan object."""
    if not isinstance(plan, dict):
        return None
    parts = [f"{k.upper()} {plan[k]}" for k in ("tp", "pp", "dp", "cp")
             if isinstance(plan.get(k), int) and (plan[k] > 1 or k != "cp")]
    text = " x ".join(parts)
    if plan.get("sp"):
        text += ", SP"
    if isinstance(plan.get("virtual_stages"), int) and plan["virtual_stages"] > 1:
        text += f", {plan['virtual_stages']} virtual stages"
    if isinstance(plan.get("zero"), int):
        text += f", ZeRO-{plan['zero']}"
    return text


def training_tables(report, summary):
    """Summary tables from a training run's summary.json; tolerant of optional keys."""
    t = summary.get("training") or {}
    report.heading("Summary")
    batch = summary.get("batch") or {}
    job = [("scenario", summary.get("scenario")), ("model", summary.get("model")),
           ("cluster", summary.get("cluster")), ("GPUs", summary.get("gpus")),
           ("parallel plan", plan_text(summary.get("plan"))),
           ("pipeline schedule", summary.get("schedule")), ("recompute", summary.get("recompute")),
           ("sequence length", get(batch, "seq_len")),
           ("global batch (sequences)", get(batch, "global_batch")),
           ("micro-batch x micro-batches per replica",
            f"{get(batch, 'micro_batch')} x {get(batch, 'microbatches')}"
            if get(batch, "micro_batch") is not None else None),
           ("iterations (steady-state)",
            f"{fmt(t.get('iterations'))} ({fmt(t.get('steady_iterations'))})")]
    report.table("Training run", ["quantity", "value"], [(k, fmt(v)) for k, v in job])

    peak = t.get("peak_memory_gib")
    device = t.get("device_memory_gib")
    peak_text = None
    if isinstance(peak, (int, float)):
        peak_text = f"{peak:.2f} GiB"
        if isinstance(device, (int, float)):
            peak_text += f" of {device:.2f} GiB"
        if t.get("peak_memory_stage") is not None:
            peak_text += f" (pipeline stage {t['peak_memory_stage']})"
    peak_tflops = t.get("peak_tflops_per_gpu")
    rates = [("step time (s)", fmt(t.get("step_time_s"), 4)),
             ("tokens/s", fmt(t.get("tokens_per_s"), 0)),
             ("tokens/s per GPU", fmt(t.get("tokens_per_s_per_gpu"), 1)),
             ("model TFLOP/s per GPU", fmt(t.get("model_tflops_per_gpu"), 1)),
             ("MFU", pct(t.get("mfu"))), ("HFU (recompute included)", pct(t.get("hfu"))),
             ("peak TFLOP/s per GPU", f"{fmt(peak_tflops, 0)} {t.get('peak_dtype') or ''}".strip()
              if peak_tflops is not None else "-"),
             ("peak memory per device", peak_text or "-")]
    if t.get("time_to_train_days") is not None:
        tokens = t.get("train_tokens")
        rates += [("tokens to train",
                   f"{tokens:.4g}" if isinstance(tokens, (int, float)) else fmt(tokens)),
                  ("time to train (days)", fmt(t.get("time_to_train_days"), 1)),
                  ("GPU-hours", fmt(t.get("gpu_hours"), 0))]
    report.table("Step time, throughput, FLOPs and memory", ["quantity", "value"], rates)

    per_iter = t.get("time_per_iteration")
    if isinstance(per_iter, dict):
        step = t.get("step_time_s") or 0
        rows = [(name, fmt(per_iter.get(col), 4),
                 pct(per_iter[col] / step) if step and isinstance(per_iter.get(col), (int, float))
                 else "-")
                for col, name, _ in TIME_COMPONENTS]
        report.table("Time per iteration, mean over rank groups",
                     ["component", "s", "of step time"], rows)


def breakdown_table(report, labels, secs, per_stage):
    """The bars of the time-breakdown plot as numbers."""
    header = ["pipeline stage" if per_stage else "rank group"] + \
        [name for _, name, _ in TIME_COMPONENTS] + ["total"]
    rows = [[label] + [fmt(float(s), 4) for s in secs[:, k]] + [fmt(float(secs[:, k].sum()), 4)]
            for k, label in enumerate(labels)]
    what = "per pipeline stage, mean over dp" if per_stage else "per rank group"
    report.table(f"Time breakdown {what} (s per iteration)", header, rows)


def memory_table(report, stages, gib, totals, device_gib):
    header = ["stage"] + [name for _, name, _ in MEMORY_COMPONENTS] + ["total", "fits"]
    rows = []
    for k, s in enumerate(stages):
        fits = "-" if not device_gib else "yes" if totals[k] <= device_gib else "no"
        rows.append([str(s)] + [fmt(float(v), 2) for v in gib[:, k]] + [fmt(totals[k], 2), fits])
    report.table("Memory per device by pipeline stage (GiB)", header, rows)
