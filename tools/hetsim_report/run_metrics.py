"""The numbers behind the run plots: time bins, per-bin aggregates of requests and steps,
CDF samples and replica labels. numpy only, no drawing.

Upper bounds on what a plot draws keep runs with millions of requests or steps to small PNG/SVG
files: CDFs are drawn through at most CDF_POINTS quantiles, time series in bins."""

import math

import numpy as np

CDF_POINTS = 2000


def nice_width(span, target_bins):
    """A round bin width (1, 2 or 5 times a power of ten) giving about TARGET_BINS bins."""
    raw = max(span, 1e-9) / target_bins
    power = 10.0 ** math.floor(math.log10(raw))
    for step in (1.0, 2.0, 5.0, 10.0):
        if raw <= step * power:
            return step * power
    return 10.0 * power


def time_bins(t_end, target_bins):
    """Bin edges [0, w, 2w, ...] covering [0, t_end] and each bin's width clipped to t_end,
    so a partial last bin is averaged over the time it actually covers."""
    width = nice_width(t_end, target_bins)
    n = max(1, math.ceil(t_end / width))
    edges = np.arange(n + 1) * width
    covered = np.minimum(edges[1:], max(t_end, 1e-12)) - edges[:-1]
    return edges, np.maximum(covered, 1e-12)


def ramp_sum(starts, weights, t):
    """sum_i weights[i] * max(0, t - starts[i]) at every t, in O((n + m) log n).

    A quantity that grows at rate w_i from s_i to e_i has cumulative value
    ramp_sum(s, w, t) - ramp_sum(e, w, t); differences at bin edges then give per-bin totals
    without visiting every (request, bin) pair."""
    order = np.argsort(starts, kind="stable")
    s, w = starts[order], weights[order]
    cum_w = np.concatenate(([0.0], np.cumsum(w)))
    cum_ws = np.concatenate(([0.0], np.cumsum(w * s)))
    k = np.searchsorted(s, t, side="right")
    return t * cum_w[k] - cum_ws[k]


def bin_max(times, values, edges, initial):
    """Per-bin maximum of VALUES (at sorted TIMES) and of INITIAL (the value entering the bin)."""
    first = np.searchsorted(times, edges[:-1], side="left")
    result = np.array(initial, dtype=float)
    nonempty = first < np.append(first[1:], len(times))
    if nonempty.any():
        # reduceat over the first index of each non-empty bin: each segment runs to the next
        # non-empty bin's start, i.e. exactly over this bin's events (the bins between are empty).
        seg_max = np.maximum.reduceat(values, first[nonempty])
        result[nonempty] = np.maximum(result[nonempty], seg_max)
    return result


def run_end_time(summary, req):
    """End of the simulated timeline: summary duration, extended to cover every event seen."""
    t = float(summary.get("duration_s") or 0.0)
    for arr in (req.arrival, req.completion):
        if len(arr):
            t = max(t, float(arr.max()))
    return max(t, 1e-9)


def ecdf(values):
    """(x, y) of the empirical CDF, through at most CDF_POINTS quantiles for big samples."""
    x = np.sort(values)
    y = np.arange(1, len(x) + 1) / len(x)
    if len(x) > CDF_POINTS:
        idx = np.unique(np.linspace(0, len(x) - 1, CDF_POINTS).round().astype(int))
        x, y = x[idx], y[idx]
    return x, y


def output_tokens_per_bin(req, edges):
    """Output tokens generated in each bin: the first token at first_token_s, the other
    output_tokens-1 spread evenly over (first_token_s, completion_s], which is how decoding
    produces them; crediting them all at completion would make the curve spiky."""
    rest = req.output_tokens - 1
    span = req.completion - req.first_token
    spread = (rest > 0) & (span > 0)
    rate = rest[spread] / span[spread]
    cum = (ramp_sum(req.first_token[spread], rate, edges)
           - ramp_sum(req.completion[spread], rate, edges))
    tokens = np.diff(cum)
    tokens += np.histogram(req.first_token, bins=edges)[0]
    instant = (rest > 0) & ~spread  # decode took no time: credit at completion
    tokens += np.histogram(req.completion[instant], bins=edges, weights=rest[instant])[0]
    return tokens


def in_system_per_bin(req, edges, widths):
    """Time-weighted mean and maximum number of requests in the system (arrived, not completed)
    per bin. Rejected requests leave at once, so they never count."""
    ones = np.ones(req.completed)
    area = ramp_sum(req.c_arrival, ones, edges) - ramp_sum(req.completion, ones, edges)
    mean = np.diff(area) / widths
    # Event list (+1 arrival, -1 completion), departures first at equal times.
    times = np.concatenate((req.c_arrival, req.completion))
    deltas = np.concatenate((ones, -ones))
    order = np.lexsort((deltas, times))
    times, level = times[order], np.cumsum(deltas[order])
    before = np.searchsorted(times, edges[:-1], side="left")
    entering = np.where(before > 0, level[np.maximum(before - 1, 0)], 0.0)
    return mean, bin_max(times, level, edges, entering)


def summary_replicas(summary):
    """summary.json's per-replica objects (an empty list if absent or malformed)."""
    reps = summary.get("replicas")
    return [r if isinstance(r, dict) else {} for r in reps] if isinstance(reps, list) else []


def replica_count(summary, steps):
    n = len(summary_replicas(summary))
    if len(steps["replica"]):
        n = max(n, int(steps["replica"].max()) + 1)
    return n


def replica_labels(summary, count):
    """(label, hardware) per replica, e.g. ('r0', 'h100-sxm5-80gb TP1'), from summary.json."""
    reps = summary_replicas(summary)
    labels = []
    for i in range(count):
        r = reps[i] if i < len(reps) else {}
        dev, tp = r.get("device"), r.get("tensor_parallel")
        labels.append((f"r{i}", " ".join(x for x in (dev, f"TP{tp}" if tp else None) if x)))
    return labels


def full_label(label):
    return f"{label[0]} {label[1]}".strip()


def kv_bin_means(steps, edges):
    """Per replica, the step-duration-weighted mean KV utilization (%) in each time bin, i.e.
    a time average while the replica runs; bins without steps (idle) are NaN, drawn as gaps."""
    n_bins = len(edges) - 1
    total = np.where(steps["kv_blocks_total"] > 0, steps["kv_blocks_total"], np.nan)
    util = 100.0 * steps["kv_blocks_used"] / total
    bin_idx = np.clip((steps["start_s"] / edges[1]).astype(np.int64), 0, n_bins - 1)
    # The tiny floor keeps bins made only of zero-length steps defined (plain mean then).
    weight = steps["duration_s"] + 1e-12
    means = {}
    for rep in np.unique(steps["replica"]).astype(np.int64):
        mine = (steps["replica"] == rep) & np.isfinite(util)
        num = np.bincount(bin_idx[mine], weights=util[mine] * weight[mine], minlength=n_bins)
        den = np.bincount(bin_idx[mine], weights=weight[mine], minlength=n_bins)
        means[rep] = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return means


STEP_KINDS = ("prefill only", "decode only", "mixed", "empty")


def step_time_breakdown(steps, n_rep, duration):
    """Seconds per replica in each of STEP_KINDS (prefill-only, decode-only, mixed and empty
    steps), plus idle. Windows (step_windows.csv) carry their busy time per kind already."""
    if "busy_by_kind" in steps:
        rep = steps["replica"].astype(np.int64)
        busy = np.zeros((len(STEP_KINDS), n_rep))
        for k, seconds in enumerate(steps["busy_by_kind"]):
            busy[k] = np.bincount(rep, weights=seconds, minlength=n_rep)
        idle = np.maximum(duration - busy.sum(axis=0), 0.0)
        return busy, idle
    prefill = steps["prefill_tokens"] > 0
    decode = steps["decode_seqs"] > 0
    kind = np.select([prefill & ~decode, ~prefill & decode, prefill & decode], [0, 1, 2], 3)
    rep = steps["replica"].astype(np.int64)
    busy = np.zeros((len(STEP_KINDS), n_rep))
    for k in range(len(STEP_KINDS)):
        sel = kind == k
        busy[k] = np.bincount(rep[sel], weights=steps["duration_s"][sel], minlength=n_rep)
    idle = np.maximum(duration - busy.sum(axis=0), 0.0)
    return busy, idle


# TTFT by cached fraction: requests with no cached prompt tokens, then quarters of the prompt.
CACHED_FRACTION_BINS = ("0", "(0, 0.25]", "(0.25, 0.5]", "(0.5, 0.75]", "(0.75, 1]")
SCATTER_POINTS = 20000


def cached_fractions(req):
    """(cached fraction of the prompt, TTFT in s) of the completed requests with a prompt;
    None when requests.csv has no cached_tokens column."""
    if req.cached_tokens is None:
        return None
    has_prompt = req.prompt_tokens > 0
    frac = req.cached_tokens[has_prompt] / req.prompt_tokens[has_prompt]
    return frac, req.ttft()[has_prompt]


def cached_fraction_stats(frac, ttft):
    """Per CACHED_FRACTION_BINS bin: (request count, median TTFT, p90 TTFT); NaN when empty."""
    idx = np.where(frac > 0, np.clip(np.ceil(frac * 4), 1, 4), 0).astype(np.int64)
    counts = np.bincount(idx, minlength=len(CACHED_FRACTION_BINS))
    median = np.full(len(counts), np.nan)
    p90 = np.full(len(counts), np.nan)
    for b in np.flatnonzero(counts):
        median[b], p90[b] = np.quantile(ttft[idx == b], [0.5, 0.9])
    return counts, median, p90


def subsample(n, limit=SCATTER_POINTS):
    """Sorted indices of at most LIMIT of N points, the same on every run."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, limit, replace=False))


def kv_tier_windows(kv):
    """kv_tiers.csv summed up per window over instances. Returns a dict: start, end, mid
    (per window), lookup (prompt tokens looked up per window, each instance-window once), and
    per tier and window (rows of arrays) hit, capacity, used, cached; shared tiers (one store
    seen from every instance) take capacity, used and cached once (the maximum over instances),
    the others sum them."""
    starts, w = np.unique(kv.window_start_s, return_inverse=True)
    n_w, n_t = len(starts), len(kv.tiers)
    ends = np.zeros(n_w)
    np.maximum.at(ends, w, kv.window_end_s)
    # lookup_tokens repeats on every tier row of an instance and window: count it once.
    pairs, pair_of_row = np.unique(w * (int(kv.instance.max()) + 1) + kv.instance.astype(np.int64),
                                   return_inverse=True)
    pair_lookup = np.zeros(len(pairs))
    np.maximum.at(pair_lookup, pair_of_row, kv.lookup_tokens)
    pair_window = np.zeros(len(pairs), dtype=np.int64)
    pair_window[pair_of_row] = w
    lookup = np.bincount(pair_window, weights=pair_lookup, minlength=n_w)

    cell = kv.tier * n_w + w
    out = {"start": starts, "end": ends, "mid": (starts + ends) / 2, "lookup": lookup,
           "hit": np.bincount(cell, weights=kv.hit_tokens, minlength=n_t * n_w).reshape(n_t, n_w)}
    shared_row = kv.tier_shared[kv.tier]
    for name in ("capacity", "used", "cached"):
        col = getattr(kv, f"{name}_blocks")
        total = np.bincount(cell[~shared_row], weights=col[~shared_row], minlength=n_t * n_w)
        np.maximum.at(total, cell[shared_row], col[shared_row])
        out[name] = total.reshape(n_t, n_w)
    return out


def with_gaps(agg, *series):
    """(x, series...) ready to draw: window midpoints with a NaN put between two windows that
    do not touch (no instance ran steps in between), so lines break there instead of bridging
    the gap. SERIES are arrays over windows (the last axis)."""
    gap = np.flatnonzero(agg["start"][1:] > agg["end"][:-1] + 1e-9) + 1
    return [np.insert(np.asarray(s, dtype=float), gap, np.nan, axis=-1)
            for s in (agg["mid"],) + series]


def lone_points(y, all_below=60):
    """Indices of Y to mark: every point when there are at most ALL_BELOW, else those whose
    neighbours are both NaN (a line alone would not show them)."""
    if len(y) <= all_below:
        return np.arange(len(y))
    ok = np.isfinite(y)
    before = np.concatenate(([False], ok[:-1]))
    after = np.concatenate((ok[1:], [False]))
    return np.flatnonzero(ok & ~before & ~after)


def window_length(agg):
    """The windows' most common length (s); a last, partial window is shorter."""
    lengths, counts = np.unique(np.round(agg["end"] - agg["start"], 9), return_counts=True)
    return float(lengths[np.argmax(counts)])


def kv_tier_totals(kv, agg):
    """Per tier over the whole run: hit tokens, tokens written, blocks evicted (summed over
    instances and windows) and the largest capacity of a window; and the tokens looked up."""
    n_t = len(kv.tiers)
    return {"hit": agg["hit"].sum(axis=1),
            "written": np.bincount(kv.tier, weights=kv.written_tokens, minlength=n_t),
            "evicted": np.bincount(kv.tier, weights=kv.evicted_blocks, minlength=n_t),
            "capacity": agg["capacity"].max(axis=1),
            "lookup": float(agg["lookup"].sum())}
