"""The report of an explain folder (written by `hetsim explain --out DIR`): the step's ops on a
roofline, where its time goes, and the per-op table."""

import csv
import json
import os

import numpy as np

from .html_page import Report
from .inputs import InputError
from .plotting import plt

NUMERIC = ("repeat", "flops", "weight_bytes", "activation_bytes", "kv_bytes", "comm_bytes",
           "roofline_fraction", "overhead_s", "time_s", "share")


def load_explain(folder):
    json_path = os.path.join(folder, "explain.json")
    csv_path = os.path.join(folder, "explain.csv")
    try:
        with open(json_path, encoding="utf-8") as f:
            step = json.load(f)
    except (OSError, ValueError) as e:
        raise InputError(json_path, f"cannot read ({e})")
    for key in ("gpu_s", "step_s", "peak_flops", "memory_bandwidth", "host_s"):
        if key not in step:
            raise InputError(json_path, f"no '{key}' (not written by hetsim explain?)")
    ops = []
    with open(csv_path, encoding="utf-8", newline="") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            try:
                for key in NUMERIC:
                    row[key] = float(row[key])
            except (KeyError, ValueError, TypeError):
                raise InputError(f"{csv_path}:{line}", "expected the columns hetsim explain writes")
            ops.append(row)
    if not ops:
        raise InputError(csv_path, "no ops")
    return step, ops


def plot_roofline(report, step, ops):
    """Each op at its arithmetic intensity (FLOPs per byte moved) and achieved FLOP/s, under the
    device's roofs: the peak of each dtype the ops use, and the memory bandwidth slope."""
    fig, ax = plt.subplots(figsize=(9, 6))
    bandwidth = step["memory_bandwidth"]
    points = []
    for op in ops:
        moved = op["weight_bytes"] + op["activation_bytes"] + op["kv_bytes"]
        if op["flops"] <= 0 or moved <= 0 or op["time_s"] <= 0:
            continue  # collectives and pure copies have no place on a FLOP roofline
        per_instance = op["time_s"] / op["repeat"]
        points.append((op["flops"] / moved, op["flops"] / per_instance, op))
    if not points:
        ax.text(0.5, 0.5, "no op with FLOPs and bytes", ha="center", va="center", transform=ax.transAxes)
    else:
        xs = np.array([p[0] for p in points])
        lo, hi = xs.min() / 4, xs.max() * 4
        grid = np.logspace(np.log10(lo), np.log10(hi), 200)
        used = {op["dtype"] for _, _, op in points}
        for dtype, peak in sorted(step["peak_flops"].items(), key=lambda kv: -kv[1]):
            if dtype not in used:
                continue
            ax.plot(grid, np.minimum(peak, bandwidth * grid), linewidth=1.5,
                    label=f"roofline {dtype}: {peak / 1e12:.0f} TFLOP/s, {bandwidth / 1e12:.2f} TB/s")
        for x, y, op in points:
            ax.scatter([x], [y], s=30 + 400 * op["share"], alpha=0.7)
            ax.annotate(op["op"], (x, y), textcoords="offset points", xytext=(4, 4), fontsize="small")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.legend(loc="lower right", fontsize="small")
    ax.set_xlabel("arithmetic intensity (FLOPs per byte of memory traffic)")
    ax.set_ylabel("achieved FLOP/s (per op instance)")
    ax.set_title(f"{step.get('model', '?')} on {step.get('device', '?')} TP{step.get('tensor_parallel', '?')}: "
                 "ops on the roofline (marker area ~ share of the step)")
    report.figure(fig, "roofline", "Ops of the step on the device's roofline")


def plot_time_split(report, step, ops):
    host = step["host_s"]["total"]
    names = [op["op"] for op in ops] + ["host (serving stack)"]
    times = [op["time_s"] * 1e6 for op in ops] + [host * 1e6]
    fig, ax = plt.subplots(figsize=(9, 0.3 * len(names) + 1.5))
    ax.barh(range(len(names)), times, color=["tab:blue"] * len(ops) + ["tab:gray"])
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names)
    ax.invert_yaxis()
    ax.set_xlabel("microseconds in the step (all layers)")
    how = "max(host, GPU)" if step.get("overlap_host") else "host + GPU"
    ax.set_title(f"step {step['step_s'] * 1e6:.0f} us = {how}: GPU {step['gpu_s'] * 1e6:.0f} us, host {host * 1e6:.0f} us")
    report.figure(fig, "step_time", "Where the step's time goes")


def report_explain(folder, outdir):
    step, ops = load_explain(folder)
    report = Report(outdir, f"hetsim explain: {step.get('scenario', os.path.basename(os.path.abspath(folder)))}")
    report.heading("Step")
    b = step.get("batch", {})
    report.table("Batch and totals", ["quantity", "value"], [
        ["prompt tokens (chunks)", f"{b.get('prefill_tokens', 0)} ({b.get('prefill_chunks', 0)})"],
        ["decoding sequences", f"{b.get('decode_seqs', 0)}"],
        ["CUDA graph replay", "yes" if step.get("graphed") else "no (eager dispatch)"],
        ["GPU", f"{step['gpu_s'] * 1e6:.1f} us"],
        ["host", f"{step['host_s']['total'] * 1e6:.1f} us"],
        ["step", f"{step['step_s'] * 1e6:.1f} us"],
    ])
    plot_roofline(report, step, ops)
    plot_time_split(report, step, ops)
    report.heading("Ops")
    report.table("Per-op costs (FLOPs and bytes per instance; time over all instances)",
                 ["op", "class", "dtype", "x", "GFLOP", "MB", "bound", "of roofline", "time us", "share",
                  "efficiency from"],
                 [[op["op"], op["class"], op["dtype"], f"{op['repeat']:.0f}", f"{op['flops'] / 1e9:.3f}",
                   f"{(op['weight_bytes'] + op['activation_bytes'] + op['kv_bytes'] + op['comm_bytes']) / 1e6:.2f}",
                   op["bound"], f"{100 * op['roofline_fraction']:.0f}%", f"{op['time_s'] * 1e6:.1f}",
                   f"{100 * op['share']:.1f}%", op["efficiency_source"]] for op in ops])
    report.write(f"{step.get('model', '?')} on {step.get('device', '?')}, serving stack "
                 f"{step.get('serving_stack', '?')}; folder {os.path.abspath(folder)}")
