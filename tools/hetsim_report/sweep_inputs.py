"""A sweep folder's inputs (written by `hetsim sweep`): sweep.json, points.csv, max_rate.csv and
cheapest.json, read and checked."""

import math
import os

from .formatting import combo_label
from .inputs import InputError, open_csv, parse_float, read_json

SWEEP_METRICS = [  # (points.csv column, subplot title, unit label, scale from the CSV's unit)
    ("request_throughput", "request throughput", "requests/s", 1.0),
    ("ttft_p90", "TTFT p90", "ms", 1e3),
    ("tpot_p90", "TPOT p90", "ms", 1e3),
    ("e2e_p90", "E2E latency p90", "s", 1.0),
]

# A training point fills the train_* columns (and leaves the serving ones empty); these are the
# ones its report plots and so requires.
TRAINING_MARKER = "train_tokens_per_s"
TRAINING_REQUIRED = {"train_tokens_per_s", "train_mfu"}


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
            if r["status"] not in ("ok", "failed", "infeasible"):
                raise InputError(path, f"line {line}: status = '{r['status']}' is not ok, "
                                       f"failed or infeasible")
            ok = r["status"] == "ok"
            # Failed and infeasible (training plans that do not fit) points have empty metrics;
            # ok points may leave goodput, slo_attainment and cost_per_hour (and any column not
            # plotted) empty, but never a plotted metric: the serving ones for a serving point,
            # the training ones for a training point (which leaves the serving ones empty).
            training = r.get(TRAINING_MARKER, "") != ""
            required = set() if not ok else TRAINING_REQUIRED if training else \
                {m[0] for m in SWEEP_METRICS}
            self.metrics.append({c: parse_float(path, line, c, r[c], c not in required)
                                 for c in self.metric_cols})
            self.raw.append(r)
        if not self.raw:
            raise InputError(path, "no points (header only)")
        # An axis is numeric when every value in its column is a number.
        self.numeric_axes = [k for k in axis_keys if all(is_number(r[k]) for r in self.raw)]

    def ok(self):
        return [i for i, r in enumerate(self.raw) if r["status"] == "ok"]

    def is_training(self):
        """A training sweep: some point is infeasible (only training plans can be) or has
        training metrics."""
        return (any(r["status"] == "infeasible" for r in self.raw) or
                self.has(TRAINING_MARKER))

    def has(self, column):
        return column in self.metric_cols and any(
            self.metrics[i][column] is not None for i in self.ok())

    def axis_value(self, i, key):
        text = self.raw[i][key]
        return float(text) if key in self.numeric_axes else text


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


def load_sweep(folder):
    """(spec, axis keys, Points or None, MaxRate or None, cheapest dict or None) of a sweep
    folder. It holds sweep.json and points.csv (plain sweeps) and/or max_rate.csv (sweeps that
    search for the highest rate meeting an SLO, which write no points.csv)."""
    spec, axis_keys = load_sweep_spec(os.path.join(folder, "sweep.json"))
    points_path = os.path.join(folder, "points.csv")
    mr_path = os.path.join(folder, "max_rate.csv")
    if not os.path.exists(points_path) and not os.path.exists(mr_path):
        raise InputError(points_path, "missing (and no max_rate.csv either)")
    points = Points(points_path, axis_keys) if os.path.exists(points_path) else None
    max_rate = MaxRate(mr_path, axis_keys) if os.path.exists(mr_path) else None
    cheapest_path = os.path.join(folder, "cheapest.json")
    cheapest = read_json(cheapest_path) if max_rate and os.path.exists(cheapest_path) else None
    return spec, axis_keys, points, max_rate, cheapest
