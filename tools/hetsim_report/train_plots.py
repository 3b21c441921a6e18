"""The training run report's plots, one function each; every one adds its figure to the page."""

import numpy as np

from .plotting import plt
from .train_inputs import MEMORY_COMPONENTS, TIME_COMPONENTS


def plot_time_breakdown(report, labels, secs, per_stage, step_time):
    """Stacked horizontal bars, one per rank group (or stage): where its iteration goes.
    LABELS, SECS and PER_STAGE as train_metrics.time_breakdown gives them."""
    n = len(labels)
    fig, ax = plt.subplots(figsize=(11, max(2.8, 0.28 * n + 1.8)))
    y = np.arange(n)
    left = np.zeros(n)
    for (_, name, color), row in zip(TIME_COMPONENTS, secs):
        if not row.any():
            continue  # e.g. no TP comm without tensor parallelism: keep the legend short
        ax.barh(y, row, left=left, color=color, label=name,
                hatch="//" if name == "idle" else None, edgecolor="white", linewidth=0.3)
        left += row
    if step_time:
        ax.axvline(step_time, color="black", linestyle="--", linewidth=1,
                   label=f"step time {step_time:.3g} s")
    ax.set_yticks(y, labels, fontsize="small" if n <= 32 else "x-small")
    ax.invert_yaxis()  # stage 0 at the top
    ax.set_xlabel("time per iteration (s)")
    ax.set_xlim(left=0)
    what = "pipeline stage (mean over data-parallel replicas)" if per_stage else "rank group"
    ax.set_title(f"Time breakdown per {what}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    report.figure(fig, "train_time_breakdown",
                  f"Time per iteration of each {what}: compute, TP comm, PP bubble, PP comm, "
                  f"DP comm, optimizer and idle")


def plot_stage_memory(report, stages, gib, device_gib):
    """Stacked bars of a device's memory per pipeline stage by component, and the device's
    memory as a line. STAGES and GIB as train_metrics.stage_memory gives them."""
    n = len(stages)
    fig, ax = plt.subplots(figsize=(min(16, max(6, 0.7 * n + 4)), 4.8))
    x = np.arange(n)
    bottom = np.zeros(n)
    for (_, name, color), row in zip(MEMORY_COMPONENTS, gib):
        ax.bar(x, row, bottom=bottom, color=color, label=name, width=0.7)
        bottom += row
    if device_gib:
        ax.axhline(device_gib, color="black", linestyle="--", linewidth=1.2,
                   label=f"device memory {device_gib:.1f} GiB")
    ax.set_xticks(x, [str(s) for s in stages], fontsize="small")
    ax.set_xlabel("pipeline stage")
    ax.set_ylabel("memory per device (GiB)")
    ax.set_ylim(0, max([device_gib or 0.0] + list(bottom)) * 1.1 or 1.0)
    ax.set_title("Memory per device by pipeline stage")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    report.figure(fig, "train_memory",
                  "Memory per device on each pipeline stage: weights, gradients, optimizer "
                  "states, activations, buffers and reserve, against the device's memory")


def plot_iterations(report, iterations, steady_step_time, steady_mfu):
    """Step time and MFU per iteration, with the summary's steady-state values (the first
    iteration warms up and is left out of them)."""
    it = [int(i) for i in iterations["iteration"]]
    fig, (ax_t, ax_m) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    panels = ((ax_t, iterations["step_time_s"], steady_step_time, "tab:blue", "step time (s)",
               "{:.3g} s"),
              (ax_m, [100 * m for m in iterations["mfu"]],
               100 * steady_mfu if steady_mfu else None, "tab:green", "MFU (%)", "{:.1f}%"))
    for ax, values, steady, color, ylabel, text in panels:
        ax.plot(it, values, marker="o", color=color)
        if steady:
            ax.axhline(steady, color="gray", linestyle="--", linewidth=1,
                       label="steady-state " + text.format(steady))
            ax.legend(loc="lower right", fontsize="small")
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, max(list(values) + [steady or 0.0]) * 1.15 or 1.0)
    ax_t.set_title("Step time and MFU per iteration")
    ax_m.set_xlabel("iteration")
    if len(it) <= 30:
        ax_m.set_xticks(it)
    fig.tight_layout()
    report.figure(fig, "train_iterations", "Step time and model FLOPs utilization per iteration")
