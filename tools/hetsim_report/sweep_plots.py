"""The sweep report's plots, one function each; every one adds its figure to the page."""

import math

import numpy as np

from .formatting import axis_label, combo_label, slo_text
from .plotting import plt
from .sweep_inputs import SWEEP_METRICS


def series_by_other_axes(points, x_key, zipped):
    """Ok points grouped into lines, one per combination of the axes other than X_KEY, each
    sorted by X. In zip mode all axes move together, so the points form a single line."""
    others = [] if zipped else [k for k in points.axis_keys if k != x_key]
    groups = {}
    for i in points.ok():
        combo = tuple(points.raw[i][k] for k in others)
        groups.setdefault(combo, []).append(i)
    return [(combo_label(others, combo), sorted(idx, key=lambda i: points.axis_value(i, x_key)))
            for combo, idx in groups.items()]


def maybe_log_x(ax, points, x_key):
    """Log x scale when the ok points' positive X_KEY values span 50x or more (e.g. rates 1, 2,
    4, ..., 128), which a linear scale would crowd into the left edge."""
    xs = sorted({points.axis_value(i, x_key) for i in points.ok()})
    if xs and min(xs) > 0 and max(xs) / min(xs) >= 50:
        ax.set_xscale("log")


def failed_note(points):
    n = len(points.raw) - len(points.ok())
    return f" ({n} failed point{'s' * (n != 1)} omitted)" if n else ""


def metric_grid(report, draw, n_series, suptitle, name, caption):
    """A 2x2 figure with one panel per SWEEP_METRICS entry, DRAW(ax, column, scale) drawing a
    panel's data and x axis; with several series, their legend goes below the panels."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    axes = axes.ravel()
    for ax, (col, title, unit, scale) in zip(axes, SWEEP_METRICS):
        draw(ax, col, scale)
        ax.set_title(title)
        ax.set_ylabel(f"{title} ({unit})")
    fig.suptitle(suptitle)
    fig.tight_layout()
    handles, labels = axes[0].get_legend_handles_labels()
    if n_series > 1:
        fig.legend(handles, labels, loc="lower center", ncol=min(3, n_series), fontsize="small",
                   bbox_to_anchor=(0.5, -0.02 - 0.035 * math.ceil(n_series / 3)))
    report.figure(fig, name, caption)


def plot_metrics_vs_axis(report, points, x_key, zipped):
    series = series_by_other_axes(points, x_key, zipped)

    def draw(ax, col, scale):
        for label, idx in series:
            xs = [points.axis_value(i, x_key) for i in idx]
            ys = [points.metrics[i][col] * scale for i in idx]
            ax.plot(xs, ys, marker="o", label=label)
        ax.set_xlabel(axis_label(x_key))
        ax.set_ylim(bottom=0)
        maybe_log_x(ax, points, x_key)

    metric_grid(report, draw, len(series), f"Key metrics vs {x_key}{failed_note(points)}",
                "metrics_vs_axis",
                f"Request throughput and p90 latencies against {x_key}, one line per "
                f"combination of the other axes")


def plot_metrics_bars(report, points, zipped):
    """No numeric axis: grouped bars. In a grid, groups are the first axis's values and bars
    within a group the other axes' combinations; in zip mode (axes move together) or with a
    single axis, one bar per point labelled with all its axis values."""
    keys = points.axis_keys
    per_point = zipped or len(keys) <= 1
    others = [] if per_point else keys[1:]

    def group_of(i):
        if per_point:
            return "\n".join(points.raw[i][k] for k in keys) or points.raw[i]["point"]
        return points.raw[i][keys[0]]

    def combo_of(i):
        return tuple(points.raw[i][k] for k in others)

    ok = points.ok()
    groups = list(dict.fromkeys(group_of(i) for i in ok))
    combos = list(dict.fromkeys(combo_of(i) for i in ok))
    width = 0.8 / len(combos)

    def draw(ax, col, scale):
        for c, combo in enumerate(combos):
            mine = [i for i in ok if combo_of(i) == combo]
            xs = [groups.index(group_of(i)) + (c - (len(combos) - 1) / 2) * width for i in mine]
            ax.bar(xs, [points.metrics[i][col] * scale for i in mine], width=width,
                   label=combo_label(others, combo))
        ax.set_xticks(range(len(groups)), groups, fontsize="small")
        ax.set_xlabel(" / ".join(keys) if per_point else keys[0])

    metric_grid(report, draw, len(combos), f"Key metrics per point{failed_note(points)}",
                "metrics_by_point", "Request throughput and p90 latencies per point")


def plot_slo_attainment(report, points, x_key, zipped, slo):
    fig, ax = plt.subplots(figsize=(9, 4.8))
    if x_key:
        series = series_by_other_axes(points, x_key, zipped)
        for label, idx in series:
            idx = [i for i in idx if points.metrics[i]["slo_attainment"] is not None]
            ax.plot([points.axis_value(i, x_key) for i in idx],
                    [100 * points.metrics[i]["slo_attainment"] for i in idx], marker="o",
                    label=label)
        ax.set_xlabel(axis_label(x_key))
        maybe_log_x(ax, points, x_key)
    else:
        idx = [i for i in points.ok() if points.metrics[i]["slo_attainment"] is not None]
        # Tick labels hold the axis values, one per line; the x label names the axes.
        labels = ["\n".join(points.raw[i][k] for k in points.axis_keys) or points.raw[i]["point"]
                  for i in idx]
        ax.bar(range(len(idx)), [100 * points.metrics[i]["slo_attainment"] for i in idx])
        ax.set_xticks(range(len(idx)), labels, fontsize="small")
        ax.set_xlabel(" / ".join(points.axis_keys) or "point")
        series = []
    ax.set_ylim(0, 102)
    ax.set_ylabel("requests meeting the SLO (%)")
    slo_desc = slo_text(slo)
    ax.set_title("SLO attainment" + (f" ({slo_desc})" if slo_desc else "") +
                 failed_note(points))
    if len(series) > 1:
        ax.legend(loc="best", fontsize="small")
    report.figure(fig, "slo_attainment", "Share of requests meeting the SLO" +
                  (f" against {x_key}" if x_key else " per point"))


def pareto_front(costs, goodputs):
    """Indices of points no other point beats (cost <= and goodput >=, one strictly)."""
    order = sorted(range(len(costs)), key=lambda i: (costs[i], -goodputs[i]))
    front, best = [], -math.inf
    for i in order:
        # Sorted by cost, a point is optimal iff it has more goodput than every cheaper point.
        if goodputs[i] > best:
            front.append(i)
            best = goodputs[i]
    return front


def plot_pareto(report, names, costs, values, value_label, title, file_name, caption):
    """Scatter of VALUES (higher is better) against COSTS (lower is better), the Pareto-optimal
    points in red, joined by the staircase that bounds what money buys; returns their indices."""
    front = pareto_front(costs, values)
    fig, ax = plt.subplots(figsize=(9, 5.5))
    ax.scatter(costs, values, color="gray", alpha=0.6, label="dominated")
    fx, fy = [costs[j] for j in front], [values[j] for j in front]
    ax.step(fx, fy, where="post", color="tab:red", alpha=0.6)
    ax.scatter(fx, fy, color="tab:red", zorder=3, label="Pareto-optimal")
    for j in front:
        ax.annotate(names[j], (costs[j], values[j]), textcoords="offset points", xytext=(5, 5),
                    fontsize="small")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("cost ($/hour)")
    ax.set_ylabel(value_label)
    ax.set_title(f"{title}: Pareto front (cheaper and higher is better)")
    ax.legend(loc="lower right", fontsize="small")
    report.figure(fig, file_name, caption)
    return set(front)


def plot_points_pareto(report, points):
    idx = [i for i in points.ok() if points.metrics[i]["cost_per_hour"] is not None
           and points.metrics[i]["goodput"] is not None]
    front = plot_pareto(report, [points.raw[i]["point"] for i in idx],
                        [points.metrics[i]["cost_per_hour"] for i in idx],
                        [points.metrics[i]["goodput"] for i in idx],
                        "goodput (requests/s meeting the SLO)", "Cost vs goodput",
                        "pareto_cost_goodput",
                        "Goodput against cost per hour; Pareto-optimal configurations in red")
    return {idx[j] for j in front}


def points_plots(report, points, zipped, slo):
    """Plots of points.csv; returns the indices of cost/goodput Pareto-optimal points."""
    if not points.ok():
        report.note("No point finished: nothing to plot from points.csv.")
        return set()
    x_key = points.numeric_axes[0] if points.numeric_axes else None
    if x_key:
        plot_metrics_vs_axis(report, points, x_key, zipped)
    else:
        plot_metrics_bars(report, points, zipped)
    if points.has("slo_attainment"):
        plot_slo_attainment(report, points, x_key, zipped, slo)
    else:
        report.note("No SLO attainment in points.csv: SLO plot skipped.")
    if points.has("cost_per_hour") and points.has("goodput"):
        return plot_points_pareto(report, points)
    report.note("cost_per_hour or goodput missing: cost/goodput Pareto plot skipped.")
    return set()


def searched_axis(search):
    """The axis a rate search varies (sweep.json's search object)."""
    return search.get("axis") or "workload.arrival.rate"


def plot_max_rate(report, max_rate, search):
    entries = max_rate.rows
    axis = searched_axis(search)
    fig, ax = plt.subplots(figsize=(9, max(2.5, 0.45 * len(entries) + 1.5)))
    colors = {"ok": "tab:blue", "below_range": "tab:red", "above_range": "tab:green",
              "failed": "tab:gray"}
    for k, (_, rate, _, r) in enumerate(entries):
        st = r["status"]
        ax.barh(k, rate or 0.0, color=colors[st], hatch=None if st == "ok" else "//",
                edgecolor="white")
        # Out-of-range searches only bound the answer: say which way.
        value = f"{rate:.3g}" if rate is not None else ""
        text = {"ok": value or "-", "below_range": f"< {value}" if value else "below range",
                "above_range": f"> {value}" if value else "above range", "failed": "failed"}[st]
        ax.annotate(text, (rate or 0.0, k), textcoords="offset points", xytext=(4, 0),
                    va="center", fontsize="small")
    ax.set_yticks(np.arange(len(entries)), [e[0] for e in entries], fontsize="small")
    ax.invert_yaxis()
    ax.set_xlabel(f"highest {axis_label(axis)} meeting the SLO")
    slo = slo_text(search.get("slo") or {})
    ax.set_title(f"Highest {axis} per configuration" + (f"\nSLO: {slo}" if slo else ""))
    shown = [s for s in colors if any(e[3]["status"] == s for e in entries)]
    handles = [plt.Rectangle((0, 0), 1, 1, facecolor=colors[s], edgecolor="white",
                             hatch=None if s == "ok" else "//") for s in shown]
    ax.legend(handles, shown, loc="lower right", fontsize="small")
    ax.set_xlim(right=ax.get_xlim()[1] * 1.12)  # room for the value labels
    report.figure(fig, "max_rate", f"Highest {axis} meeting the SLO, per configuration")


def plot_max_rate_pareto(report, max_rate, search):
    """With costs, the search answers 'what does each extra request/s cost': a Pareto front
    of cost vs max rate (only searches that ended ok or above the range bound the rate)."""
    axis = searched_axis(search)
    rows = [e for e in max_rate.rows if e[1] is not None and e[2] is not None
            and e[3]["status"] in ("ok", "above_range")]
    if not rows:
        return
    # Points are named by their axis values only (keys are in the caption) to keep labels
    # short; an above_range search only gives a lower bound, marked with ">=".
    names = [(" / ".join(e[3][k] for k in max_rate.keys) or "all")
             + (" (>=)" if e[3]["status"] == "above_range" else "") for e in rows]
    plot_pareto(report, names, [e[2] for e in rows], [e[1] for e in rows],
                f"highest {axis_label(axis)}\nmeeting the SLO", "Cost vs highest rate",
                "pareto_cost_max_rate",
                f"Highest {axis} meeting the SLO against cost per hour; points named by "
                f"{' / '.join(max_rate.keys) or 'configuration'}; Pareto-optimal ones in red; "
                f"(>=) marks searches that hit the top of the range")
