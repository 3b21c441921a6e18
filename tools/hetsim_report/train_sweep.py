"""The plots and tables of a training sweep (points.csv with train_* columns): tokens/s, MFU
and peak memory per point, with the plans that do not fit (status infeasible) shown as such
and listed with their reason (points/<point>/infeasible.txt)."""

import os

import numpy as np

from .formatting import fmt, pct
from .inputs import InputError, read_json
from .plotting import plt

TRAIN_COLUMNS = ["train_step_time_s", "train_tokens_per_s", "train_tokens_per_s_per_gpu",
                 "train_model_tflops_per_gpu", "train_mfu", "train_peak_memory_gib"]
# Bars of points without metrics: what they say and how they look.
NO_VALUE = {"infeasible": ("does not fit", "#e0e0e0"), "failed": ("failed", "#f4c7c7")}


def point_labels(points):
    """Tick label per point: its axis values, one 'name=value' per line, named by the last part
    of each axis key (the full keys when those repeat)."""
    keys = points.axis_keys
    short = [k.rsplit(".", 1)[-1] for k in keys]
    names = short if len(set(short)) == len(short) else keys
    return ["\n".join(f"{n}={r[k]}" for n, k in zip(names, keys)) or r["point"]
            for r in points.raw]


def infeasible_reason(folder, point):
    """points/POINT/infeasible.txt as one line, or None."""
    try:
        with open(os.path.join(folder, "points", point, "infeasible.txt"), encoding="utf-8") as f:
            return "; ".join(line.strip() for line in f if line.strip()) or None
    except (OSError, UnicodeDecodeError):
        return None


def device_memory(folder, points):
    """A device's memory (GiB) from the first ok point's summary.json, or None."""
    for i in points.ok():
        try:
            summary = read_json(os.path.join(folder, "points", points.raw[i]["point"],
                                             "summary.json"))
        except InputError:
            continue
        value = (summary.get("training") or {}).get("device_memory_gib")
        if isinstance(value, (int, float)):
            return float(value)
    return None


def point_bars(ax, points, column, scale, labels, min_top=0.0):
    """One bar per point of COLUMN (times SCALE); points without a value (infeasible, failed)
    get a hatched bar up to the top of the y axis (at least MIN_TOP) that says why."""
    values = [points.metrics[i].get(column) for i in range(len(points.raw))]
    shown = [v * scale for v in values if v is not None]
    top = max(max(shown) * 1.15 if shown else 1.0, min_top)
    x = np.arange(len(values))
    for k, v in enumerate(values):
        if v is not None:
            y = v * scale
            ax.bar(k, y, color="tab:blue", width=0.7)
            ax.annotate(f"{y:,.0f}" if y >= 1000 else f"{y:.3g}", (k, y),
                        textcoords="offset points", xytext=(0, 2), ha="center",
                        fontsize="x-small")
            continue
        status = points.raw[k]["status"]
        text, color = NO_VALUE.get(status, (status, "#e0e0e0"))
        ax.bar(k, top, color=color, hatch="//", edgecolor="#999999", width=0.7)
        ax.text(k, top / 2, text, rotation=90, ha="center", va="center", fontsize="small",
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    ax.set_xticks(x, labels, fontsize="x-small")
    ax.set_ylim(0, top)


def figure_width(n):
    return min(20, max(7, 0.9 * n + 3))


def no_value_note(points):
    counts = {s: sum(r["status"] == s for r in points.raw) for s in NO_VALUE}
    parts = [f"{n} {s}" for s, n in counts.items() if n]
    return f" ({', '.join(parts)})" if parts else ""


def plot_train_throughput(report, points, labels):
    fig, (ax_t, ax_m) = plt.subplots(2, 1, figsize=(figure_width(len(labels)), 8), sharex=True)
    point_bars(ax_t, points, "train_tokens_per_s", 1.0, labels)
    ax_t.set_ylabel("training tokens/s")
    ax_t.set_title(f"Training throughput per point{no_value_note(points)}")
    point_bars(ax_m, points, "train_mfu", 100.0, labels)
    ax_m.set_ylabel("MFU (%)")
    ax_m.set_title("Model FLOPs utilization per point")
    ax_m.set_xlabel(" / ".join(points.axis_keys) or "point")
    ax_m.xaxis.set_tick_params(labelbottom=True)
    fig.tight_layout()
    report.figure(fig, "train_throughput_by_point",
                  "Training tokens/s and MFU per point; plans that do not fit are hatched grey "
                  "(does not fit)")


def plot_train_memory(report, points, labels, device_gib):
    fig, ax = plt.subplots(figsize=(figure_width(len(labels)), 5))
    # A plan that does not fit needs more than the device: its bar reaches above the line.
    point_bars(ax, points, "train_peak_memory_gib", 1.0, labels, (device_gib or 0.0) * 1.1)
    if device_gib:
        ax.axhline(device_gib, color="black", linestyle="--", linewidth=1.2,
                   label=f"device memory {device_gib:.1f} GiB")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    ax.set_ylabel("peak memory per device (GiB)")
    ax.set_xlabel(" / ".join(points.axis_keys) or "point")
    ax.set_title(f"Peak device memory per point (most loaded rank){no_value_note(points)}")
    report.figure(fig, "train_memory_by_point",
                  "Peak memory per device of each point's most loaded rank, against the "
                  "device's memory; plans that do not fit are hatched grey")


def training_points_plots(report, points, folder):
    labels = point_labels(points)
    if not points.ok():
        report.note("No training point finished (all infeasible or failed): the plots show "
                    "only their status.")
    plot_train_throughput(report, points, labels)
    if points.has("train_peak_memory_gib") or not points.ok():
        plot_train_memory(report, points, labels, device_memory(folder, points))
    else:
        report.note("No peak memory in points.csv: memory plot skipped.")


def training_points_tables(report, points, folder):
    cols = [c for c in TRAIN_COLUMNS if c in points.metric_cols]
    header = ["point"] + points.axis_keys + ["status"] + cols
    rows, classes = [], []
    for i, r in enumerate(points.raw):
        cells = [r["point"]] + [r[k] for k in points.axis_keys] + [r["status"]]
        for c in cols:
            v = points.metrics[i][c]
            cells.append(pct(v) if c == "train_mfu" and v is not None else fmt(v, 3))
        rows.append(cells)
        classes.append(r["status"] if r["status"] in NO_VALUE else "")
    report.table("Points (infeasible in grey, failed in red)", header, rows, classes)

    infeasible = [r for r in points.raw if r["status"] == "infeasible"]
    if infeasible:
        report.table("Infeasible points: the plan does not fit",
                     ["point"] + points.axis_keys + ["reason"],
                     [[r["point"]] + [r[k] for k in points.axis_keys] +
                      [infeasible_reason(folder, r["point"]) or "does not fit"]
                      for r in infeasible])
