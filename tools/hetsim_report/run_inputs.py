"""A run folder's inputs (written by `hetsim run`): summary.json, requests.csv and the
optional steps.csv (a row per step) or step_windows.csv (steps summed up per window), read and
checked."""

import csv
import math
import os
import warnings

import numpy as np

from .inputs import InputError, check_columns, open_csv, parse_float, read_json


class Requests:
    """requests.csv as numpy arrays; completed-only arrays carry the latency inputs."""

    def __init__(self, path):
        rows = open_csv(path, ["id", "arrival_s", "first_token_s", "completion_s",
                               "output_tokens", "status"])
        header = next(rows)  # already checked
        # cached_tokens (prompt tokens found in the prefix cache at admission) is written only
        # by runs with a prefix cache; it needs prompt_tokens to become a fraction.
        has_cached = "cached_tokens" in header
        if has_cached:
            check_columns(path, header, ["prompt_tokens"])
        arrival, c_arrival, first_token, completion, output = [], [], [], [], []
        prompt, cached = [], []
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
                if has_cached:
                    p = parse_float(path, line, "prompt_tokens", r["prompt_tokens"])
                    k = parse_float(path, line, "cached_tokens", r["cached_tokens"])
                    if not 0 <= k <= p:
                        raise InputError(path, f"line {line}: cached_tokens = "
                                               f"'{r['cached_tokens']}' is not within "
                                               f"0..prompt_tokens")
                    prompt.append(p)
                    cached.append(k)
                c_arrival.append(a)
                first_token.append(ft)
                completion.append(c)
                output.append(n)
            elif status not in ("rejected", "dropped"):
                raise InputError(path, f"line {line}: status = '{status}' is not "
                                       f"completed, rejected or dropped")
        self.arrival = np.array(arrival)  # every request, rejected and dropped included
        self.c_arrival = np.array(c_arrival)
        self.first_token = np.array(first_token)
        self.completion = np.array(completion)
        self.output_tokens = np.array(output)
        # Per completed request, or None when requests.csv has no cached_tokens column.
        self.prompt_tokens = np.array(prompt) if has_cached else None
        self.cached_tokens = np.array(cached) if has_cached else None

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


# step_windows.csv: per replica and window, busy time by step kind and the time-mean KV use.
WINDOW_COLUMNS = ["replica", "window_start_s", "busy_s", "busy_prefill_s", "busy_decode_s",
                  "busy_mixed_s", "kv_blocks_used_mean", "kv_blocks_total_max"]


def load_steps(path, columns=None):
    """steps.csv (or another numeric CSV with COLUMNS) as a dict of float arrays (None if the
    file is absent). numpy's C parser keeps this fast for millions of rows; only the needed
    columns are kept."""
    columns = columns or STEP_COLUMNS
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            header = f.readline().strip().split(",")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(path, f"cannot read ({e})")
    check_columns(path, header, columns)
    cols = [header.index(c) for c in columns]
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
        raise InputError(path, first_bad_step_row(path, header, cols) or numpy_message)
    return {c: data[:, i] for i, c in enumerate(columns)}


def first_bad_step_row(path, header, cols):
    """Slow path, only after numpy rejected the file: find the first bad line with the csv
    module, so the message names a file line (numpy's row numbering is not stable). COLS are
    the header indices of the needed columns."""
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


def steps_from_windows(windows):
    """step_windows.csv in the shape of steps.csv for the plots: each window one long "step"
    (its busy time, its time-mean KV use) that also carries its busy time per step kind."""
    return {
        "replica": windows["replica"],
        "start_s": windows["window_start_s"],
        "duration_s": windows["busy_s"],
        "kv_blocks_used": windows["kv_blocks_used_mean"],
        "kv_blocks_total": windows["kv_blocks_total_max"],
        "busy_by_kind": [windows["busy_prefill_s"], windows["busy_decode_s"], windows["busy_mixed_s"]],
    }


# kv_tiers.csv: per (window, instance, KV tier) the tier's blocks at window end and its
# prefix-cache traffic in the window; an instance without steps in a window has no rows there.
KV_TIER_COLUMNS = ["window_start_s", "window_end_s", "instance", "tier", "shared",
                   "capacity_blocks", "used_blocks", "cached_blocks", "lookup_tokens",
                   "hit_tokens", "written_tokens", "evicted_blocks"]
KV_TIER_NUMBERS = [c for c in KV_TIER_COLUMNS if c != "tier"]


class KvTiers:
    """kv_tiers.csv as numpy arrays, one entry per row; TIERS are the tier names ("device"
    first, the others in order of first appearance), TIER the row's index into them and
    TIER_SHARED per tier whether it is one store shared by all instances (a remote store)."""

    def __init__(self, path):
        rows = open_csv(path, KV_TIER_COLUMNS)
        next(rows)  # header, already checked
        values = {c: [] for c in KV_TIER_NUMBERS}
        names, shared_line = [], {}
        for line, r in rows:
            row = {c: parse_float(path, line, c, r[c]) for c in KV_TIER_NUMBERS}
            negative = [c for c in KV_TIER_NUMBERS if row[c] < 0]
            if negative:
                raise InputError(path, f"line {line}: {negative[0]} = '{r[negative[0]]}' "
                                       f"is negative")
            if row["window_end_s"] <= row["window_start_s"]:
                raise InputError(path, f"line {line}: window_end_s is not after window_start_s")
            if not row["instance"].is_integer():
                raise InputError(path, f"line {line}: instance = '{r['instance']}' is not "
                                       f"an integer")
            if row["shared"] not in (0, 1):
                raise InputError(path, f"line {line}: shared = '{r['shared']}' is not 0 "
                                       f"or 1")
            tier = r["tier"]
            if not tier:
                raise InputError(path, f"line {line}: tier is empty")
            first = shared_line.setdefault(tier, (row["shared"], line))
            if first[0] != row["shared"]:
                raise InputError(path, f"line {line}: tier '{tier}' has shared = "
                                       f"{r['shared']}, but {first[0]:g} on line {first[1]}")
            names.append(tier)
            for c in KV_TIER_NUMBERS:
                values[c].append(row[c])
        self.tiers = sorted(shared_line, key=lambda t: (t != "device",))  # stable: keeps order
        index = {t: i for i, t in enumerate(self.tiers)}
        self.tier = np.array([index[t] for t in names], dtype=np.int64)
        self.tier_shared = np.array([shared_line[t][0] == 1 for t in self.tiers], dtype=bool)
        for c in KV_TIER_NUMBERS:
            setattr(self, c, np.array(values[c], dtype=np.float64))

    def __len__(self):
        return len(self.tier)


def load_kv_tiers(folder):
    """The run folder's kv_tiers.csv as KvTiers, or None if absent."""
    path = os.path.join(folder, "kv_tiers.csv")
    return KvTiers(path) if os.path.exists(path) else None


def load_run(folder):
    """(summary dict, Requests, steps dict or None, steps file name) of a run folder, all
    checked. Steps come from steps.csv, else from step_windows.csv."""
    summary_path = os.path.join(folder, "summary.json")
    summary = read_json(summary_path)
    req = Requests(os.path.join(folder, "requests.csv"))
    steps_file = "steps.csv"
    steps = load_steps(os.path.join(folder, steps_file))
    if steps is None:
        steps_file = "step_windows.csv"
        windows = load_steps(os.path.join(folder, steps_file), WINDOW_COLUMNS)
        steps = None if windows is None else steps_from_windows(windows)
    if not isinstance(summary.get("duration_s", 0), (int, float)):
        raise InputError(summary_path, "duration_s is not a number")
    return summary, req, steps, steps_file
