"""The numbers behind the training run plots and tables: the time breakdown per rank group (or
per pipeline stage when there are many groups) and the memory per pipeline stage. No drawing."""

import numpy as np

from .train_inputs import MEMORY_COMPONENTS, TIME_COMPONENTS

# More rank groups than this are drawn as one bar per pipeline stage (mean over the
# data-parallel replicas): hundreds of bars are unreadable and the replicas of a stage differ
# little.
MAX_GROUP_BARS = 64


def time_breakdown(groups):
    """(labels, seconds, per_stage): one label per bar ("stage s / dp d", or "stage s" when
    aggregated), SECONDS an array [component, bar] in TIME_COMPONENTS order, PER_STAGE whether
    the bars are per-stage means over dp."""
    cols = [c for c, _, _ in TIME_COMPONENTS]
    ordered = sorted(groups, key=lambda g: (g.pp, g.dp))
    if len(ordered) <= MAX_GROUP_BARS:
        labels = [f"stage {g.pp} / dp {g.dp}" for g in ordered]
        secs = np.array([[g.times[c] for g in ordered] for c in cols]).reshape(len(cols), -1)
        return labels, secs, False
    stages = sorted({g.pp for g in ordered})
    secs = np.zeros((len(cols), len(stages)))
    for k, s in enumerate(stages):
        mine = [g for g in ordered if g.pp == s]
        secs[:, k] = [np.mean([g.times[c] for g in mine]) for c in cols]
    return [f"stage {s}" for s in stages], secs, True


def stage_memory(groups):
    """(stages, GiB array [component, stage] in MEMORY_COMPONENTS order, totals per stage) for
    the stages whose memory ranks.csv gives; every replica of a stage holds the same, so the
    first row of a stage with memory stands for it. Empty lists when no row gives memory."""
    by_stage = {}
    for g in sorted(groups, key=lambda g: (g.pp, g.dp)):
        if g.memory is not None and g.pp not in by_stage:
            by_stage[g.pp] = g
    stages = sorted(by_stage)
    gib = np.array([[by_stage[s].memory[c] for s in stages] for c, _, _ in MEMORY_COMPONENTS])
    totals = [by_stage[s].memory_total if by_stage[s].memory_total is not None
              else float(gib[:, k].sum()) for k, s in enumerate(stages)]
    return stages, gib.reshape(len(MEMORY_COMPONENTS), len(stages)), totals
