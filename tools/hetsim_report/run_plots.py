"""The run report's plots, one function each; every one adds its figure to the page."""

import math

import numpy as np

from .plotting import plt
from .run_metrics import (CACHED_FRACTION_BINS, STEP_KINDS, ecdf, full_label,
                          in_system_per_bin, kv_bin_means, lone_points, output_tokens_per_bin,
                          subsample, time_bins, window_length, with_gaps)

# Time series are drawn in about this many bins, so that runs with millions of requests or
# steps still give small PNG/SVG files.
THROUGHPUT_BINS = 100
TIMELINE_BINS = 300
SHARED_KV_AXES_MAX = 4  # more replicas than this get one KV panel each
STEP_COLORS = {"prefill only": "tab:blue", "decode only": "tab:orange", "mixed": "tab:purple",
               "empty": "tab:gray"}


def plot_latency_cdfs(report, req):
    panels = [("TTFT", req.ttft() * 1e3, "ms"), ("TPOT", req.tpot() * 1e3, "ms"),
              ("E2E latency", req.e2e(), "s")]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, (name, values, unit) in zip(axes, panels):
        ax.set_title(f"{name} (n = {len(values):,})")
        ax.set_xlabel(f"{name} ({unit})")
        ax.set_ylabel("fraction of requests")
        ax.set_ylim(0, 1.02)
        if len(values) == 0:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
            continue
        x, y = ecdf(values)
        ax.step(x, y, where="post", color="tab:blue")
        # Mark the percentiles the tables report so the plot and the numbers can be matched up.
        for q, style in ((0.5, ":"), (0.9, "--"), (0.99, "-.")):
            v = float(np.quantile(values, q))
            ax.axvline(v, color="gray", linestyle=style, linewidth=1,
                       label=f"p{int(q * 100)} = {v:.3g} {unit}")
        ax.legend(loc="lower right", fontsize="small")
    fig.suptitle("Latency CDFs (completed requests)")
    fig.tight_layout()
    report.figure(fig, "latency_cdf",
                  "Empirical CDFs of time to first token, time per output token and "
                  "end-to-end latency")


def plot_throughput_and_queue(report, req, t_end):
    fig, (ax_req, ax_tok, ax_q) = plt.subplots(3, 1, figsize=(11, 8.5), sharex=True)
    edges, widths = time_bins(t_end, THROUGHPUT_BINS)
    completions = np.histogram(req.completion, bins=edges)[0]
    ax_req.stairs(completions / widths, edges, color="tab:blue")
    ax_req.set_ylabel("completed requests/s")
    ax_req.set_title(f"Throughput in {edges[1]:g} s bins")
    ax_tok.stairs(output_tokens_per_bin(req, edges) / widths, edges, color="tab:orange")
    ax_tok.set_ylabel("output tokens/s")

    edges, widths = time_bins(t_end, TIMELINE_BINS)
    mean, peak = in_system_per_bin(req, edges, widths)
    ax_q.stairs(peak, edges, baseline=mean, fill=True, color="tab:green", alpha=0.25,
                label="bin maximum")
    ax_q.stairs(mean, edges, color="tab:green", label="bin time-weighted mean")
    ax_q.set_ylabel("requests in system")
    ax_q.set_title(f"Requests in system (arrived, not completed) in {edges[1]:g} s bins")
    ax_q.legend(loc="upper right", fontsize="small")
    ax_q.set_xlabel("simulated time (s)")
    ax_q.set_xlim(0, t_end)
    for ax in (ax_req, ax_tok, ax_q):
        ax.set_ylim(bottom=0)
    report.figure(fig, "throughput_queue",
                  "Completed requests/s, output tokens/s and requests in the system over time")


def plot_kv_utilization(report, steps, labels, t_end):
    """LABELS: (label, hardware) per replica, as run_metrics.replica_labels gives them."""
    edges, _ = time_bins(t_end, TIMELINE_BINS)
    centers = (edges[:-1] + edges[1:]) / 2
    means = kv_bin_means(steps, edges)
    title = f"KV-cache utilization per replica (step-time-weighted mean in {edges[1]:g} s bins)"
    if len(means) <= SHARED_KV_AXES_MAX:
        fig, ax = plt.subplots(figsize=(11, 4.5))
        for rep, mean in means.items():
            ax.plot(centers, mean, label=full_label(labels[rep]), linewidth=1.2)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
        ax.set_title(title)
        ax.set_xlabel("simulated time (s)")
        ax.set_ylabel("KV blocks used (%)")
        panels = [ax]
    else:
        # Many overlaid noisy lines are unreadable: one small panel per replica instead.
        ncols = 2 if len(means) <= 16 else 4
        nrows = math.ceil(len(means) / ncols)
        fig, grid = plt.subplots(nrows, ncols, figsize=(11, 1.6 * nrows + 1), sharex=True,
                                 sharey=True, squeeze=False)
        panels = list(grid.ravel()[:len(means)])
        for k, (ax, (rep, mean)) in enumerate(zip(panels, means.items())):
            ax.plot(centers, mean, linewidth=1.0)
            ax.set_title(full_label(labels[rep]), fontsize="small")
            if k % ncols == 0:
                ax.set_ylabel("KV used (%)")
            if k + ncols >= len(means):  # nothing below this panel
                ax.set_xlabel("simulated time (s)")
                ax.xaxis.set_tick_params(labelbottom=True)
        for ax in grid.ravel()[len(means):]:
            ax.set_visible(False)
        fig.suptitle(title)
    for ax in panels:
        ax.set_xlim(0, t_end)
        ax.set_ylim(bottom=0)
    fig.tight_layout()
    report.figure(fig, "kv_utilization", "KV-cache utilization over time, per replica (% of "
                  "each replica's KV blocks in use)")


def plot_step_breakdown(report, busy, idle, labels, duration):
    """BUSY and IDLE as run_metrics.step_time_breakdown gives them, LABELS per replica."""
    n_rep = len(labels)
    same_hw = len({hw for _, hw in labels}) == 1
    # Homogeneous fleets name the hardware once in the title; mixed ones under each bar.
    ticks = [rid if same_hw else f"{rid}\n" + hw.replace(" ", "\n") for rid, hw in labels]
    per_bar = 0.6 if same_hw else 1.3
    fig, ax = plt.subplots(figsize=(min(20, max(6, per_bar * n_rep + 3)), 4.5))
    x = np.arange(n_rep)
    bottom = np.zeros(n_rep)
    for name, secs in zip(STEP_KINDS, busy):
        if name == "empty" and not secs.any():
            continue  # steps with neither prefill nor decode work normally do not occur
        ax.bar(x, secs, bottom=bottom, color=STEP_COLORS[name], label=name)
        bottom += secs
    ax.bar(x, idle, bottom=bottom, color="#dddddd", hatch="//", edgecolor="#aaaaaa", label="idle")
    ax.set_xticks(x, ticks, fontsize="small", rotation=90 if n_rep > 24 else 0)
    ax.set_xlabel("replica")
    ax.set_ylabel("time (s)")
    hw = f", all {labels[0][1]}" if same_hw and labels and labels[0][1] else ""
    ax.set_title(f"Step-time breakdown per replica (run length {duration:.1f} s{hw})")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    report.figure(fig, "step_breakdown",
                  "Per-replica time in prefill-only, decode-only and mixed steps, and idle time")


def plot_ttft_by_cached_fraction(report, frac, ttft, stats):
    """FRAC and TTFT (s) per completed request with a prompt, STATS as
    run_metrics.cached_fraction_stats gives them."""
    counts, median, p90 = stats
    fig, (ax_bins, ax_pts) = plt.subplots(1, 2, figsize=(13, 4.5))
    x = np.arange(len(CACHED_FRACTION_BINS))
    ax_bins.bar(x - 0.2, median * 1e3, width=0.4, color="tab:blue", label="median")
    ax_bins.bar(x + 0.2, p90 * 1e3, width=0.4, color="tab:orange", label="p90")
    # Each bin's request count goes under its name, where no bar or legend can hide it.
    ax_bins.set_xticks(x, [f"{name}\nn = {n:,}" for name, n in zip(CACHED_FRACTION_BINS, counts)])
    ax_bins.set_xlabel("cached fraction of the prompt (requests per bin)")
    ax_bins.set_ylabel("TTFT (ms)")
    ax_bins.set_ylim(0, max(float(np.nanmax(p90)) * 1e3, 1e-3) * 1.18)
    ax_bins.set_title("Median and p90 TTFT per cached-fraction bin")
    ax_bins.legend(loc="upper left", fontsize="small", ncols=2)

    keep = subsample(len(frac))
    shown = "" if len(keep) == len(frac) else f", {len(keep):,} of them shown"
    # Rasterized points keep the SVG small; axes and text stay vector.
    ax_pts.scatter(frac[keep], ttft[keep] * 1e3, s=4, alpha=0.3, color="tab:blue",
                   linewidths=0, rasterized=True)
    positive = ttft[ttft > 0]
    if len(positive) and positive.max() > 50 * positive.min():
        ax_pts.set_yscale("log")
    for edge in (0.25, 0.5, 0.75):
        ax_pts.axvline(edge, color="gray", linestyle=":", linewidth=1)
    ax_pts.set_xlim(-0.02, 1.02)
    ax_pts.set_xlabel("cached fraction of the prompt (cached_tokens / prompt_tokens)")
    ax_pts.set_ylabel("TTFT (ms)")
    ax_pts.set_title(f"Per request{shown}")
    fig.suptitle(f"TTFT by cached fraction of the prompt ({len(frac):,} completed requests "
                 f"with a prompt)")
    fig.tight_layout()
    report.figure(fig, "ttft_by_cached_fraction",
                  "Time to first token against the fraction of the prompt found in the prefix "
                  "cache at admission (requests without prompt tokens left out)")


def plot_kv_tiers(report, kv, agg, t_end):
    """KV as run_inputs.KvTiers, AGG as run_metrics.kv_tier_windows gives them."""
    fig, (ax_hit, ax_occ) = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
    # Windows without lookups (or a tier without capacity) give NaN, drawn as gaps.
    lookup = np.where(agg["lookup"] > 0, agg["lookup"], np.nan)
    capacity = np.where(agg["capacity"] > 0, agg["capacity"], np.nan)
    x, hit_rate, occupancy, total = with_gaps(agg, agg["hit"] / lookup,
                                              (agg["used"] + agg["cached"]) / capacity,
                                              agg["hit"].sum(axis=0) / lookup)
    for i, tier in enumerate(kv.tiers):
        label = f"{tier} (shared)" if kv.tier_shared[i] else tier
        color = f"C{i % 10}"
        for ax, y in ((ax_hit, hit_rate[i]), (ax_occ, occupancy[i])):
            ax.plot(x, y, color=color, label=label, linewidth=1.2, marker=".",
                    markevery=list(lone_points(y)))
    ax_hit.plot(x, total, color="black", label="total", linewidth=1.2, marker=".",
                markevery=list(lone_points(total)))
    ax_hit.set_ylabel("hit rate (hit / looked-up tokens)")
    ax_hit.set_title("Prefix-cache hit rate per tier (tokens served from the tier / prompt "
                     "tokens looked up)", fontsize="medium")
    ax_occ.set_ylabel("occupancy ((used + cached) / capacity)")
    ax_occ.set_title("Occupancy per tier at window end (blocks in use or holding cached "
                     "content)", fontsize="medium")
    ax_occ.set_xlabel("simulated time (s, window midpoints)")
    ax_occ.set_xlim(0, max(t_end, float(agg["end"].max())))
    for ax in (ax_hit, ax_occ):
        ax.set_ylim(0, 1.02)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    fig.suptitle(f"KV tiers over time ({window_length(agg):g} s windows, all instances)")
    fig.tight_layout()
    report.figure(fig, "kv_tiers",
                  "Per KV tier and window: prefix-cache hit rate and occupancy, summed over "
                  "instances (a shared tier counted once)")
