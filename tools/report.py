#!/usr/bin/python3
"""Turn a hetsim run folder or sweep folder into plots and one HTML page.

    /usr/bin/python3 tools/report.py DIR

DIR is a run folder (written by `hetsim run`: requests.csv, summary.json, optional steps.csv)
or a sweep folder (written by `hetsim sweep`: sweep.json with points.csv and/or max_rate.csv;
a rate-search sweep writes max_rate.csv and cheapest.json but no points.csv).
The report goes to DIR/report/: every plot as NAME.png and NAME.svg, and index.html, which
shows the PNGs, links the SVGs and holds the summary tables. Every file is written to NAME.tmp
and renamed into place, index.html last, so a reader never sees a half-written report.

Exit status: 0 on success, 2 on bad input (one `error: FILE: what is wrong` line on stderr),
1 when the report cannot be written.

Needs Debian's python3-matplotlib (which pulls in python3-numpy); standard library otherwise.
"""

import csv
import html
import json
import math
import os
import sys
import warnings

import matplotlib

matplotlib.use("Agg")  # no display: render straight to files
import matplotlib.pyplot as plt  # noqa: E402  (must follow the backend choice)
import numpy as np  # noqa: E402

# Deterministic output: fixed SVG element ids, text kept as text (not glyph paths with
# per-run ids), and no creation dates or software stamps in the files.
matplotlib.rcParams["svg.hashsalt"] = "hetsim-report"
matplotlib.rcParams["svg.fonttype"] = "none"
matplotlib.rcParams["figure.dpi"] = 100
matplotlib.rcParams["savefig.dpi"] = 100
matplotlib.rcParams["axes.grid"] = True
matplotlib.rcParams["grid.alpha"] = 0.3
PNG_METADATA = {"Software": None}
SVG_METADATA = {"Date": None, "Creator": None}

# Upper bounds on what a plot draws, so that runs with millions of requests or steps still give
# small PNG/SVG files: CDFs are drawn through at most this many quantiles, time series in bins.
CDF_POINTS = 2000
THROUGHPUT_BINS = 100
TIMELINE_BINS = 300
SHARED_KV_AXES_MAX = 4  # more replicas than this get one KV panel each

SWEEP_METRICS = [  # (points.csv column, subplot title, unit label, scale from the CSV's unit)
    ("request_throughput", "request throughput", "requests/s", 1.0),
    ("ttft_p90", "TTFT p90", "ms", 1e3),
    ("tpot_p90", "TPOT p90", "ms", 1e3),
    ("e2e_p90", "E2E latency p90", "s", 1.0),
]
COUNT_COLUMNS = {"completed", "rejected", "preemptions", "gpus"}
# points.csv latency columns are in seconds; the HTML table shows them in milliseconds.
LATENCY_COLUMNS = {f"{m}_{s}" for m in ("ttft", "tpot", "e2e")
                   for s in ("mean", "p50", "p90", "p99")}


class InputError(Exception):
    """Bad input: reported as `error: FILE: WHAT` and exit status 2."""

    def __init__(self, path, what):
        super().__init__(f"{path}: {what}")
        self.path = path
        self.what = what


# ---------------------------------------------------------------------------------------------
# Output helpers


def write_atomic(path, data):
    """Write bytes or text to PATH.tmp, then rename over PATH."""
    tmp = path + ".tmp"
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(tmp, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as f:
        f.write(data)
    os.replace(tmp, path)


def save_figure(fig, outdir, name):
    """Save FIG as NAME.png and NAME.svg in OUTDIR (each atomically) and close it."""
    for kind, metadata in (("png", PNG_METADATA), ("svg", SVG_METADATA)):
        path = os.path.join(outdir, f"{name}.{kind}")
        with open(path + ".tmp", "wb") as f:
            fig.savefig(f, format=kind, metadata=metadata, bbox_inches="tight")
        os.replace(path + ".tmp", path)
    plt.close(fig)


class Report:
    """Collects the page's sections (tables, figures, notes) in order, then renders the HTML."""

    def __init__(self, outdir, title):
        os.makedirs(outdir, exist_ok=True)  # only once the inputs have been read and checked
        self.outdir = outdir
        self.title = title
        self.parts = []

    def heading(self, text):
        self.parts.append(f"<h2>{esc(text)}</h2>")

    def note(self, text):
        self.parts.append(f'<p class="note">{esc(text)}</p>')

    def table(self, caption, header, rows, row_classes=None):
        """HTML table; cells are given as display strings. ROW_CLASSES marks rows (e.g. failed)."""
        # Caption as a heading above a scrolling box: wide tables (many sweep columns) then
        # scroll on their own instead of widening the page or squeezing the caption.
        out = [f'<h3>{esc(caption)}</h3><div class="scroll"><table><thead><tr>']
        out += [f"<th>{esc(h)}</th>" for h in header]
        out.append("</tr></thead><tbody>")
        for i, row in enumerate(rows):
            cls = row_classes[i] if row_classes else ""
            out.append(f'<tr class="{esc(cls)}">' if cls else "<tr>")
            out += [f"<td>{esc(c)}</td>" for c in row]
            out.append("</tr>")
        out.append("</tbody></table></div>")
        self.parts.append("".join(out))

    def figure(self, fig, name, caption):
        save_figure(fig, self.outdir, name)
        self.parts.append(
            f'<figure><a href="{name}.svg"><img src="{name}.png" alt="{esc(caption)}"></a>'
            f'<figcaption>{esc(caption)} (<a href="{name}.svg">SVG</a>)</figcaption></figure>')

    def write(self, subtitle):
        page = PAGE_TEMPLATE.format(title=esc(self.title), subtitle=esc(subtitle),
                                    body="\n".join(self.parts), script=IMAGE_CHECK_SCRIPT)
        write_atomic(os.path.join(self.outdir, "index.html"), page)


# Lets a headless browser test see whether every image decoded (tools/check_html_images.sh).
IMAGE_CHECK_SCRIPT = """<script>
window.addEventListener('load', function () {
  var imgs = document.getElementsByTagName('img'), loaded = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (imgs[i].complete && imgs[i].naturalWidth > 0) loaded++;
  }
  document.body.setAttribute('data-images-loaded', loaded + '/' + imgs.length);
});
</script>"""

PAGE_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; max-width: 1200px; }}
h1 {{ font-size: 1.5em; margin-bottom: 0.2em; }}
h2 {{ font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }}
.subtitle {{ color: #555; margin-top: 0; }}
h3 {{ font-size: 1em; margin: 1em 0 0.3em; }}
.scroll {{ overflow-x: auto; margin-bottom: 1em; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; white-space: nowrap; }}
th {{ background: #f0f0f0; }}
td:first-child, th:first-child {{ text-align: left; }}
tr.failed td {{ background: #fde0e0; color: #900; }}
tr.pareto td {{ background: #e3f3e3; }}
figure {{ margin: 1em 0 2em; }}
figure img {{ max-width: 100%; border: 1px solid #eee; }}
figcaption {{ color: #555; font-size: 0.9em; }}
.note {{ color: #666; font-style: italic; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p class="subtitle">{subtitle}</p>
{body}
{script}
</body>
</html>
"""


def esc(text):
    return html.escape(str(text), quote=True)


def fmt(value, digits=3):
    """Table cell text for a number: ints as ints, floats with DIGITS decimals, None as '-'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def pct(value):
    return "-" if value is None else f"{100.0 * value:.1f}%"


# ---------------------------------------------------------------------------------------------
# Input helpers


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise InputError(path, "missing")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(path, f"cannot read ({e})")
    except json.JSONDecodeError as e:
        raise InputError(path, f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}")
    if not isinstance(data, dict):
        raise InputError(path, "top level is not a JSON object")
    return data


def open_csv(path, required):
    """Yield (line number, row dict) from a CSV file after checking its header lists REQUIRED."""
    try:
        f = open(path, newline="", encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, "missing")
    except OSError as e:
        raise InputError(path, f"cannot read ({e})")
    with f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            if not header:
                raise InputError(path, "empty file (no header line)")
            missing = [c for c in required if c not in header]
            if missing:
                raise InputError(path, f"header lacks column(s) {', '.join(missing)}")
            yield header
            for row in reader:
                if not row:
                    continue  # tolerate blank lines (e.g. a trailing one)
                if len(row) != len(header):
                    raise InputError(path, f"line {reader.line_num}: {len(row)} fields, "
                                           f"header has {len(header)}")
                yield reader.line_num, dict(zip(header, row))
        except csv.Error as e:
            raise InputError(path, f"line {reader.line_num}: {e}")
        except UnicodeDecodeError:
            raise InputError(path, "not UTF-8 text")


def parse_float(path, line, column, text, allow_empty=False):
    if text == "" and allow_empty:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(path, f"line {line}: {column} = '{text}' is not a number")
    if not math.isfinite(value):
        raise InputError(path, f"line {line}: {column} = '{text}' is not a finite number")
    return value


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


# ---------------------------------------------------------------------------------------------
# Run folder


class Requests:
    """requests.csv as numpy arrays; completed-only arrays carry the latency inputs."""

    def __init__(self, path):
        rows = open_csv(path, ["id", "arrival_s", "first_token_s", "completion_s",
                               "output_tokens", "status"])
        next(rows)  # header, already checked
        arrival, c_arrival, first_token, completion, output = [], [], [], [], []
        for line, r in rows:
            status = r["status"]
            a = parse_float(path, line, "arrival_s", r["arrival_s"])
            arrival.append(a)
            if status == "completed":
                ft = parse_float(path, line, "first_token_s", r["first_token_s"])
                c = parse_float(path, line, "completion_s", r["completion_s"])
                n = parse_float(path, line, "output_tokens", r["output_tokens"])
                if not a <= ft <= c:
                    raise InputError(path, f"line {line}: times not ordered "
                                           f"(arrival_s <= first_token_s <= completion_s)")
                c_arrival.append(a)
                first_token.append(ft)
                completion.append(c)
                output.append(n)
            elif status != "rejected":
                raise InputError(path, f"line {line}: status = '{status}' is neither "
                                       f"completed nor rejected")
        self.arrival = np.array(arrival)  # every request, rejected included
        self.c_arrival = np.array(c_arrival)
        self.first_token = np.array(first_token)
        self.completion = np.array(completion)
        self.output_tokens = np.array(output)

    @property
    def completed(self):
        return len(self.completion)

    def ttft(self):
        return self.first_token - self.c_arrival

    def tpot(self):
        many = self.output_tokens > 1  # TPOT is undefined for single-token outputs
        return (self.completion[many] - self.first_token[many]) / (self.output_tokens[many] - 1)

    def e2e(self):
        return self.completion - self.c_arrival


STEP_COLUMNS = ["replica", "start_s", "duration_s", "prefill_tokens", "decode_seqs",
                "kv_blocks_used", "kv_blocks_total"]


def load_steps(path):
    """steps.csv as a dict of float arrays (None if the file is absent). numpy's C parser keeps
    this fast for millions of rows; only the needed columns are kept."""
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            header = f.readline().strip().split(",")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(path, f"cannot read ({e})")
    missing = [c for c in STEP_COLUMNS if c not in header]
    if missing:
        raise InputError(path, f"header lacks column(s) {', '.join(missing)}")
    cols = [header.index(c) for c in STEP_COLUMNS]
    numpy_message = "non-finite value"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an empty body warns; it is handled below
            data = np.loadtxt(path, delimiter=",", skiprows=1, usecols=cols, ndmin=2,
                              dtype=np.float64)
        bad = len(data) and (not np.isfinite(data).all() or (data[:, 0] < 0).any())
    except UnicodeDecodeError:
        raise InputError(path, "not UTF-8 text")
    except ValueError as e:
        bad, numpy_message = True, (str(e).splitlines() or ["malformed"])[0]
    if bad:
        raise InputError(path, first_bad_step_row(path, header) or numpy_message)
    return {c: data[:, i] for i, c in enumerate(STEP_COLUMNS)}


def first_bad_step_row(path, header):
    """Slow path, only after numpy rejected the file: find the first bad line with the csv
    module, so the message names a file line (numpy's row numbering is not stable)."""
    cols = [header.index(c) for c in STEP_COLUMNS]
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader, None)
        for row in reader:
            if len(row) != len(header):
                return f"line {reader.line_num}: {len(row)} fields, header has {len(header)}"
            for c in cols:
                try:
                    ok = math.isfinite(float(row[c]))
                except ValueError:
                    ok = False
                if not ok:
                    return f"line {reader.line_num}: {header[c]} = '{row[c]}' is not a number"
            if float(row[cols[0]]) < 0:
                return f"line {reader.line_num}: replica = '{row[cols[0]]}' is negative"
    return None


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


def summary_replicas(summary):
    """summary.json's per-replica objects (an empty list if absent or malformed)."""
    reps = summary.get("replicas")
    return [r if isinstance(r, dict) else {} for r in reps] if isinstance(reps, list) else []


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


def replica_count(summary, steps):
    n = len(summary_replicas(summary))
    if len(steps["replica"]):
        n = max(n, int(steps["replica"].max()) + 1)
    return n


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


def plot_kv_utilization(report, steps, summary, t_end):
    edges, _ = time_bins(t_end, TIMELINE_BINS)
    centers = (edges[:-1] + edges[1:]) / 2
    labels = replica_labels(summary, replica_count(summary, steps))
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


STEP_KINDS = [("prefill only", "tab:blue"), ("decode only", "tab:orange"), ("mixed", "tab:purple"),
              ("empty", "tab:gray")]


def step_time_breakdown(steps, n_rep, duration):
    """Seconds per replica in prefill-only, decode-only, mixed and empty steps, plus idle."""
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


def plot_step_breakdown(report, steps, summary, duration):
    n_rep = replica_count(summary, steps)
    busy, idle = step_time_breakdown(steps, n_rep, duration)
    labels = replica_labels(summary, n_rep)
    same_hw = len({hw for _, hw in labels}) == 1
    # Homogeneous fleets name the hardware once in the title; mixed ones under each bar.
    ticks = [rid if same_hw else f"{rid}\n" + hw.replace(" ", "\n") for rid, hw in labels]
    per_bar = 0.6 if same_hw else 1.3
    fig, ax = plt.subplots(figsize=(min(20, max(6, per_bar * n_rep + 3)), 4.5))
    x = np.arange(n_rep)
    bottom = np.zeros(n_rep)
    for (name, color), secs in zip(STEP_KINDS, busy):
        if name == "empty" and not secs.any():
            continue  # steps with neither prefill nor decode work normally do not occur
        ax.bar(x, secs, bottom=bottom, color=color, label=name)
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
    return busy, idle, labels


def run_tables(report, summary):
    """Summary tables from summary.json; tolerant of optional keys."""
    def get(d, *keys):
        for k in keys:
            if not isinstance(d, dict) or k not in d:
                return None
            d = d[k]
        return d

    report.heading("Summary")
    overview = [("scenario", get(summary, "scenario")), ("model", get(summary, "model")),
                ("fleet", get(summary, "fleet")), ("seed", get(summary, "seed")),
                ("simulated duration (s)", get(summary, "duration_s")),
                ("requests total", get(summary, "requests", "total")),
                ("completed", get(summary, "requests", "completed")),
                ("rejected", get(summary, "requests", "rejected")),
                ("preemptions", get(summary, "preemptions")),
                ("model steps", get(summary, "steps"))]
    report.table("Run", ["quantity", "value"], [(k, fmt(v)) for k, v in overview])
    rejected = get(summary, "rejected_by_reason") or {}
    if rejected:
        report.table("Rejected requests by reason", ["reason", "requests"],
                     [(k, fmt(v)) for k, v in sorted(rejected.items())])

    rates = [("requests/s", get(summary, "throughput", "requests_per_s")),
             ("output tokens/s", get(summary, "throughput", "output_tokens_per_s")),
             ("total tokens/s", get(summary, "throughput", "total_tokens_per_s"))]
    if get(summary, "goodput") is not None:
        rates.append(("goodput (requests/s meeting the SLO)",
                      get(summary, "goodput", "requests_per_s")))
        att = get(summary, "goodput", "slo_attainment")
        rates.append(("SLO attainment", pct(att) if att is not None else None))
    rates += [("KV-cache utilization, mean", pct(get(summary, "kv_utilization", "mean"))),
              ("KV-cache utilization, peak", pct(get(summary, "kv_utilization", "peak")))]
    report.table("Throughput, goodput and KV cache", ["quantity", "value"],
                 [(k, fmt(v)) for k, v in rates])

    stats = ["mean", "p50", "p90", "p99", "max"]
    rows = []
    for key, name in (("ttft", "TTFT"), ("tpot", "TPOT"), ("e2e", "E2E"), ("queue", "queueing")):
        d = get(summary, "latency_s", key)
        if isinstance(d, dict):
            rows.append([name, fmt(d.get("count"))] +
                        [fmt(d[s] * 1e3, 2) if isinstance(d.get(s), (int, float)) else "-"
                         for s in stats])
    if rows:
        report.table("Latency (ms)", ["metric", "count"] + stats, rows)

    little = get(summary, "littles_law")
    if isinstance(little, dict) and little:
        report.table("Little's law check (mean in system = arrival rate x mean sojourn)",
                     ["quantity", "value"], [(k, fmt(v, 4)) for k, v in little.items()])

    reps = get(summary, "replicas")
    if isinstance(reps, list) and reps:
        cols = ["device", "tensor_parallel", "completed", "steps", "busy_fraction",
                "prefill_tokens", "decode_tokens", "preemptions", "kv_blocks_total",
                "kv_utilization_mean", "kv_utilization_peak"]
        percent_cols = {"busy_fraction", "kv_utilization_mean", "kv_utilization_peak"}
        rows = [[f"r{i}"] + [pct(r.get(c)) if c in percent_cols else fmt(r.get(c)) for c in cols]
                for i, r in enumerate(reps) if isinstance(r, dict)]
        header = ["replica", "device", "TP", "completed", "steps", "busy", "prefill tokens",
                  "decode tokens", "preemptions", "KV blocks", "KV util mean", "KV util peak"]
        report.table("Replicas", header, rows)

    notes = get(summary, "cost_model")
    if isinstance(notes, list) and notes:
        report.table("Cost model", ["note"], [[n] for n in notes])


def step_breakdown_table(report, busy, idle, labels):
    rows = []
    for i, label in enumerate(map(full_label, labels)):
        total = busy[:, i].sum() + idle[i]
        cells = [fmt(float(s), 2) for s in busy[:3, i]] + [fmt(float(idle[i]), 2)]
        rows.append([label] + cells + [pct(busy[:, i].sum() / total) if total > 0 else "-"])
    report.table("Step-time breakdown (s)",
                 ["replica", "prefill only", "decode only", "mixed", "idle", "busy"], rows)


def report_run(folder, outdir):
    summary_path = os.path.join(folder, "summary.json")
    summary = read_json(summary_path)
    req = Requests(os.path.join(folder, "requests.csv"))
    steps = load_steps(os.path.join(folder, "steps.csv"))
    if not isinstance(summary.get("duration_s", 0), (int, float)):
        raise InputError(summary_path, "duration_s is not a number")
    t_end = run_end_time(summary, req)

    name = summary.get("scenario") or os.path.basename(os.path.abspath(folder))
    report = Report(outdir, f"hetsim run report: {name}")
    run_tables(report, summary)

    report.heading("Latency and load")
    if req.completed:
        plot_latency_cdfs(report, req)
        plot_throughput_and_queue(report, req, t_end)
    else:
        report.note("No completed requests: latency and throughput plots skipped.")

    report.heading("Replicas")
    if steps is None:
        report.note("steps.csv is absent (step logging disabled): KV-cache and step-time plots "
                    "skipped.")
    elif len(steps["replica"]) == 0:
        report.note("steps.csv has no rows: KV-cache and step-time plots skipped.")
    else:
        plot_kv_utilization(report, steps, summary, t_end)
        busy, idle, labels = plot_step_breakdown(report, steps, summary, t_end)
        step_breakdown_table(report, busy, idle, labels)

    report.write(f"{summary.get('model', '?')} on {summary.get('fleet', '?')}, "
                 f"seed {summary.get('seed', '?')}; run folder {os.path.abspath(folder)}")


# ---------------------------------------------------------------------------------------------
# Sweep folder


def load_sweep_spec(path):
    spec = read_json(path)
    axes = spec.get("axes")
    if not isinstance(axes, list):
        raise InputError(path, "'axes' is missing or not a list")
    keys = []
    for i, a in enumerate(axes):
        if not isinstance(a, dict) or not isinstance(a.get("key"), str):
            raise InputError(path, f"axes[{i}] has no string 'key'")
        keys.append(a["key"])
    if len(set(keys)) != len(keys):
        raise InputError(path, "axis keys repeat")
    slo = spec.get("slo")
    if slo is not None and not isinstance(slo, dict):
        raise InputError(path, "'slo' is not an object")
    return spec, keys


def is_number(text):
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


class Points:
    """points.csv: the header, raw cells per row (for the table) and parsed metrics per row."""

    def __init__(self, path, axis_keys):
        rows = open_csv(path, ["point"] + axis_keys + ["status"] + [m[0] for m in SWEEP_METRICS])
        self.header = next(rows)
        if self.header[1:1 + len(axis_keys)] != axis_keys:
            raise InputError(path, f"axis columns {self.header[1:1 + len(axis_keys)]} do not "
                                   f"match sweep.json axes {axis_keys} (same order expected)")
        self.axis_keys = axis_keys
        self.metric_cols = self.header[self.header.index("status") + 1:]
        self.raw, self.metrics = [], []
        for line, r in rows:
            if r["status"] not in ("ok", "failed"):
                raise InputError(path, f"line {line}: status = '{r['status']}' is neither ok "
                                       f"nor failed")
            ok = r["status"] == "ok"
            # Failed points have empty metrics; ok points may leave goodput, slo_attainment and
            # cost_per_hour (and any column not plotted) empty, but never a plotted metric.
            required = {m[0] for m in SWEEP_METRICS} if ok else set()
            self.metrics.append({c: parse_float(path, line, c, r[c], c not in required)
                                 for c in self.metric_cols})
            self.raw.append(r)
        if not self.raw:
            raise InputError(path, "no points (header only)")
        # An axis is numeric when every value in its column is a number.
        self.numeric_axes = [k for k in axis_keys if all(is_number(r[k]) for r in self.raw)]

    def ok(self):
        return [i for i, r in enumerate(self.raw) if r["status"] == "ok"]

    def has(self, column):
        return column in self.metric_cols and any(
            self.metrics[i][column] is not None for i in self.ok())

    def axis_value(self, i, key):
        text = self.raw[i][key]
        return float(text) if key in self.numeric_axes else text


# Units of sweep axes whose meaning is known; other axes are labelled by their key alone.
AXIS_UNITS = {"workload.arrival.rate": "requests/s"}


def axis_label(key):
    return f"{key} ({AXIS_UNITS[key]})" if key in AXIS_UNITS else key


def combo_label(keys, values, empty="all points"):
    return ", ".join(f"{k}={v}" for k, v in zip(keys, values)) or empty


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


def maybe_log_x(ax, xs):
    """Log x scale when positive axis values span 50x or more (e.g. rates 1, 2, 4, ..., 128),
    which a linear scale would crowd into the left edge."""
    if xs and min(xs) > 0 and max(xs) / min(xs) >= 50:
        ax.set_xscale("log")


def failed_note(points):
    n = len(points.raw) - len(points.ok())
    return f" ({n} failed point{'s' * (n != 1)} omitted)" if n else ""


def legend_below(fig, axes, n_series):
    handles, labels = axes[0].get_legend_handles_labels()
    if n_series > 1:
        fig.legend(handles, labels, loc="lower center", ncol=min(3, n_series), fontsize="small",
                   bbox_to_anchor=(0.5, -0.02 - 0.035 * math.ceil(n_series / 3)))


def plot_metrics_vs_axis(report, points, x_key, zipped):
    series = series_by_other_axes(points, x_key, zipped)
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    axes = axes.ravel()
    for ax, (col, title, unit, scale) in zip(axes, SWEEP_METRICS):
        for label, idx in series:
            xs = [points.axis_value(i, x_key) for i in idx]
            ys = [points.metrics[i][col] * scale for i in idx]
            ax.plot(xs, ys, marker="o", label=label)
        ax.set_title(title)
        ax.set_xlabel(axis_label(x_key))
        ax.set_ylabel(f"{title} ({unit})")
        ax.set_ylim(bottom=0)
        maybe_log_x(ax, sorted({points.axis_value(i, x_key) for i in points.ok()}))
    fig.suptitle(f"Key metrics vs {x_key}{failed_note(points)}")
    fig.tight_layout()
    legend_below(fig, axes, len(series))
    report.figure(fig, "metrics_vs_axis",
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
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    axes = axes.ravel()
    for ax, (col, title, unit, scale) in zip(axes, SWEEP_METRICS):
        for c, combo in enumerate(combos):
            mine = [i for i in ok if combo_of(i) == combo]
            xs = [groups.index(group_of(i)) + (c - (len(combos) - 1) / 2) * width for i in mine]
            ax.bar(xs, [points.metrics[i][col] * scale for i in mine], width=width,
                   label=combo_label(others, combo))
        ax.set_xticks(range(len(groups)), groups, fontsize="small")
        ax.set_title(title)
        ax.set_xlabel(" / ".join(keys) if per_point else keys[0])
        ax.set_ylabel(f"{title} ({unit})")
    fig.suptitle(f"Key metrics per point{failed_note(points)}")
    fig.tight_layout()
    legend_below(fig, axes, len(combos))
    report.figure(fig, "metrics_by_point", "Request throughput and p90 latencies per point")


def slo_text(slo):
    if not slo:
        return ""
    parts = [f"{k.replace('_', ' ').upper()} ≤ {v * 1e3:g} ms" for k, v in slo.items()
             if isinstance(v, (int, float))]
    return ", ".join(parts)


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
        maybe_log_x(ax, sorted({points.axis_value(i, x_key) for i in points.ok()}))
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
    ax.set_title("SLO attainment" + (f" ({slo_text(slo)})" if slo_text(slo) else "") +
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


MAX_RATE_STATUSES = ("ok", "below_range", "above_range", "failed")


class MaxRate:
    """max_rate.csv: one row per configuration (values of the non-searched axes) with the
    highest searched-axis value meeting the SLO; optional cost_per_hour."""

    def __init__(self, path, axis_keys):
        rows = open_csv(path, ["max_rate", "probes", "status"])
        self.header = next(rows)
        self.keys = [c for c in self.header if c in axis_keys]
        self.has_cost = "cost_per_hour" in self.header
        self.rows = []  # (label, max_rate or None, cost or None, row dict)
        for line, r in rows:
            if r["status"] not in MAX_RATE_STATUSES:
                raise InputError(path, f"line {line}: status = '{r['status']}' is not one of "
                                       f"{', '.join(MAX_RATE_STATUSES)}")
            rate = parse_float(path, line, "max_rate", r["max_rate"], allow_empty=True)
            parse_float(path, line, "probes", r["probes"], allow_empty=True)
            cost = (parse_float(path, line, "cost_per_hour", r["cost_per_hour"], allow_empty=True)
                    if self.has_cost else None)
            label = combo_label(self.keys, [r[k] for k in self.keys], "all configurations")
            self.rows.append((label, rate, cost, r))


def plot_max_rate(report, max_rate, search):
    entries = max_rate.rows
    axis = search.get("axis") or "workload.arrival.rate"
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
    axis = search.get("axis") or "workload.arrival.rate"
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


def max_rate_tables(report, max_rate, cheapest):
    report.table("Highest rate meeting the SLO (max_rate.csv)", max_rate.header,
                 [[e[3][c] or "-" for c in max_rate.header] for e in max_rate.rows])
    if cheapest:
        config = cheapest.get("config")
        rows = [("target rate", fmt(cheapest.get("target_rate"))),
                ("configuration", combo_label(list(config), list(config.values()))
                 if isinstance(config, dict) else "none reaches the target"),
                ("its highest rate", fmt(cheapest.get("max_rate"))),
                ("its cost ($/hour)", fmt(cheapest.get("cost_per_hour"), 2))]
        report.table("Cheapest configuration reaching the target rate (cheapest.json)",
                     ["item", "value"], rows)


def points_table(report, points, pareto):
    header = ["point"] + points.axis_keys + ["status"] + [
        f"{c} (ms)" if c in LATENCY_COLUMNS else c for c in points.metric_cols]
    rows, classes = [], []
    for i, r in enumerate(points.raw):
        cells = [r["point"]] + [r[k] for k in points.axis_keys] + [r["status"]]
        for c in points.metric_cols:
            v = points.metrics[i][c]
            if v is None:
                cells.append("-")
            elif c in LATENCY_COLUMNS:
                cells.append(fmt(v * 1e3, 2))
            elif c in ("slo_attainment", "kv_utilization_mean", "kv_utilization_peak"):
                cells.append(pct(v))
            elif c in COUNT_COLUMNS and v == int(v):
                cells.append(fmt(int(v)))
            else:
                cells.append(fmt(v, 3))
        rows.append(cells)
        classes.append("failed" if r["status"] == "failed" else "pareto" if i in pareto else "")
    note = " (failed points in red" + (", cost/goodput Pareto-optimal in green)" if pareto else ")")
    report.table("Points" + note, header, rows, classes)


def sweep_definition_table(report, spec, points, slo):
    info = [("spec", spec.get("spec")), ("base scenario", spec.get("base")),
            ("mode", spec.get("mode")), ("points planned", spec.get("points"))]
    if points:
        info += [("points in points.csv", len(points.raw)), ("points ok", len(points.ok()))]
    info.append(("SLO", slo_text(slo) or "none"))
    info += [(f"axis {a.get('key')}", ", ".join(str(v) for v in a.get("values") or []))
             for a in spec["axes"]]
    search = spec.get("search")
    if isinstance(search, dict):
        info += [("searched axis", search.get("axis")),
                 ("search range", f"{search.get('lo')} .. {search.get('hi')}"),
                 ("search SLO", slo_text(search.get("slo") or {}) or "none")]
    report.table("Sweep definition", ["item", "value"], [(k, fmt(v)) for k, v in info])


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


def report_sweep(folder, outdir):
    """A sweep folder holds sweep.json and points.csv (plain sweeps) and/or max_rate.csv
    (sweeps that search for the highest rate meeting an SLO, which write no points.csv)."""
    spec, axis_keys = load_sweep_spec(os.path.join(folder, "sweep.json"))
    points_path = os.path.join(folder, "points.csv")
    mr_path = os.path.join(folder, "max_rate.csv")
    if not os.path.exists(points_path) and not os.path.exists(mr_path):
        raise InputError(points_path, "missing (and no max_rate.csv either)")
    points = Points(points_path, axis_keys) if os.path.exists(points_path) else None
    max_rate = MaxRate(mr_path, axis_keys) if os.path.exists(mr_path) else None
    cheapest_path = os.path.join(folder, "cheapest.json")
    cheapest = read_json(cheapest_path) if max_rate and os.path.exists(cheapest_path) else None
    search = spec.get("search") if isinstance(spec.get("search"), dict) else {}
    slo = spec.get("slo") or {}

    report = Report(outdir, f"hetsim sweep report: {os.path.basename(os.path.abspath(folder))}")
    report.heading("Sweep")
    sweep_definition_table(report, spec, points, slo)

    report.heading("Plots")
    pareto = points_plots(report, points, spec.get("mode") == "zip", slo) if points else set()
    if max_rate and max_rate.rows:
        plot_max_rate(report, max_rate, search)
        if max_rate.has_cost:
            plot_max_rate_pareto(report, max_rate, search)

    report.heading("Tables")
    if points:
        points_table(report, points, pareto)
    if max_rate:
        max_rate_tables(report, max_rate, cheapest)
    report.write(f"{spec.get('mode', '?')} sweep over {', '.join(axis_keys) or 'no axes'}; "
                 f"sweep folder {os.path.abspath(folder)}")


# ---------------------------------------------------------------------------------------------


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print("usage: report.py DIR   (a hetsim run folder or sweep folder)", file=sys.stderr)
        return 2
    folder = argv[1]
    try:
        if not os.path.isdir(folder):
            raise InputError(folder, "not a directory")
        # A search sweep writes sweep.json and max_rate.csv but no points.csv.
        if any(os.path.exists(os.path.join(folder, f)) for f in ("points.csv", "sweep.json")):
            kind = report_sweep
        elif os.path.exists(os.path.join(folder, "requests.csv")):
            kind = report_run
        else:
            raise InputError(folder, "neither points.csv or sweep.json (sweep folder) nor "
                                     "requests.csv (run folder) found")
        outdir = os.path.join(folder, "report")
        kind(folder, outdir)
    except InputError as e:
        print(f"error: {e.path}: {e.what}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e.filename or folder}: cannot write report ({e.strerror or e})",
              file=sys.stderr)
        return 1
    print(os.path.join(outdir, "index.html"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
