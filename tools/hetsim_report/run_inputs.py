"""A run folder's inputs (written by `hetsim run`): summary.json, requests.csv and the
optional steps.csv, read and checked."""

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
            elif status not in ("rejected", "dropped"):
                raise InputError(path, f"line {line}: status = '{status}' is not "
                                       f"completed, rejected or dropped")
        self.arrival = np.array(arrival)  # every request, rejected and dropped included
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
    check_columns(path, header, STEP_COLUMNS)
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
        raise InputError(path, first_bad_step_row(path, header, cols) or numpy_message)
    return {c: data[:, i] for i, c in enumerate(STEP_COLUMNS)}


def first_bad_step_row(path, header, cols):
    """Slow path, only after numpy rejected the file: find the first bad line with the csv
    module, so the message names a file line (numpy's row numbering is not stable). COLS are
    the header indices of STEP_COLUMNS."""
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


def load_run(folder):
    """(summary dict, Requests, steps dict or None) of a run folder, all checked."""
    summary_path = os.path.join(folder, "summary.json")
    summary = read_json(summary_path)
    req = Requests(os.path.join(folder, "requests.csv"))
    steps = load_steps(os.path.join(folder, "steps.csv"))
    if not isinstance(summary.get("duration_s", 0), (int, float)):
        raise InputError(summary_path, "duration_s is not a number")
    return summary, req, steps
