"""A training run folder's inputs (written by `hetsim run` on a training scenario): summary.json
(kind "training"), iterations.csv (a row per iteration) and ranks.csv (a row per rank group:
one pipeline stage of one data-parallel replica, times per iteration and memory per device),
read and checked."""

import os

from .inputs import InputError, open_csv, parse_float, read_json

ITERATION_COLUMNS = ["iteration", "start_s", "end_s", "step_time_s", "tokens_per_s",
                     "tokens_per_s_per_gpu", "model_tflops_per_gpu", "mfu"]

# (ranks.csv column, legend label, colour): where a rank group's iteration goes, in bar order.
TIME_COMPONENTS = [("compute_s", "compute", "tab:blue"), ("tp_comm_s", "TP comm", "tab:orange"),
                   ("ep_comm_s", "EP comm", "tab:cyan"), ("cp_comm_s", "CP comm", "tab:gray"),
                   ("pp_bubble_s", "PP bubble", "tab:red"), ("pp_comm_s", "PP comm", "tab:purple"),
                   ("dp_comm_s", "DP comm", "tab:green"), ("optimizer_s", "optimizer", "tab:olive"),
                   ("idle_s", "idle", "#cccccc"), ("checkpoint_s", "checkpoint", "tab:brown"),
                   ("offload_wait_s", "offload wait", "tab:pink")]

# (ranks.csv column, legend label, colour): a device's memory by component, in stack order.
MEMORY_COMPONENTS = [("mem_weights_gib", "weights", "tab:blue"),
                     ("mem_gradients_gib", "gradients", "tab:orange"),
                     ("mem_optimizer_gib", "optimizer states", "tab:green"),
                     ("mem_activations_gib", "activations", "tab:red"),
                     ("mem_buffers_gib", "buffers", "tab:purple"),
                     ("mem_reserve_gib", "reserve", "#bbbbbb")]

RANK_COLUMNS = (["pp", "dp", "first_rank", "devices"] + [c for c, _, _ in TIME_COMPONENTS] +
                [c for c, _, _ in MEMORY_COMPONENTS] + ["mem_total_gib"])


class Iterations:
    """iterations.csv: one list of floats per column, in iteration order."""

    def __init__(self, path):
        rows = open_csv(path, ITERATION_COLUMNS)
        next(rows)  # header, already checked
        self.columns = {c: [] for c in ITERATION_COLUMNS}
        for line, r in rows:
            for c in ITERATION_COLUMNS:
                self.columns[c].append(parse_float(path, line, c, r[c]))

    def __len__(self):
        return len(self.columns["iteration"])

    def __getitem__(self, column):
        return self.columns[column]


class RankGroup:
    """One row of ranks.csv: stage PP of data-parallel replica DP, its times per iteration
    (seconds by TIME_COMPONENTS column) and its memory per device (GiB by MEMORY_COMPONENTS
    column, None when ranks.csv leaves it empty)."""

    def __init__(self, pp, dp, devices, times, memory, total):
        self.pp, self.dp, self.devices = pp, dp, devices
        self.times, self.memory, self.memory_total = times, memory, total


def load_rank_groups(path):
    rows = open_csv(path, RANK_COLUMNS)
    next(rows)
    groups = []
    for line, r in rows:
        ints = {}
        for c in ("pp", "dp", "devices"):
            v = parse_float(path, line, c, r[c])
            if v < 0 or v != int(v):
                raise InputError(path, f"line {line}: {c} = '{r[c]}' is not a whole number >= 0")
            ints[c] = int(v)
        times = {}
        for c, _, _ in TIME_COMPONENTS:
            times[c] = parse_float(path, line, c, r[c])
            if times[c] < 0:
                raise InputError(path, f"line {line}: {c} = '{r[c]}' is negative")
        mem = {c: parse_float(path, line, c, r[c], allow_empty=True)
               for c, _, _ in MEMORY_COMPONENTS}
        total = parse_float(path, line, "mem_total_gib", r["mem_total_gib"], allow_empty=True)
        groups.append(RankGroup(ints["pp"], ints["dp"], ints["devices"], times,
                                mem if None not in mem.values() else None, total))
    if not groups:
        raise InputError(path, "no rank groups (header only)")
    return groups


def is_training_run(folder):
    """A training run folder: summary.json says kind "training", or ranks.csv and
    iterations.csv are there."""
    if all(os.path.exists(os.path.join(folder, f)) for f in ("ranks.csv", "iterations.csv")):
        return True
    path = os.path.join(folder, "summary.json")
    return os.path.exists(path) and read_json(path).get("kind") == "training"


def load_training_run(folder):
    """(summary dict, Iterations, list of RankGroup) of a training run folder, all checked."""
    summary_path = os.path.join(folder, "summary.json")
    summary = read_json(summary_path)
    training = summary.get("training")
    if not isinstance(training, dict):
        raise InputError(summary_path, "'training' is missing or not an object")
    for key in ("step_time_s", "tokens_per_s", "mfu"):
        if not isinstance(training.get(key), (int, float)):
            raise InputError(summary_path, f"training.{key} is missing or not a number")
    iterations = Iterations(os.path.join(folder, "iterations.csv"))
    groups = load_rank_groups(os.path.join(folder, "ranks.csv"))
    return summary, iterations, groups
