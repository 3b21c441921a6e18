"""The run report's tables: summary.json's numbers and the per-replica step-time breakdown."""

from .formatting import fmt, pct
from .run_metrics import full_label
from .schema import instance_keys


def run_tables(report, summary, schema=None):
    """Summary tables from summary.json; tolerant of optional keys. With the run's
    metrics_schema.json (SCHEMA), the replicas table shows every per-instance metric declared."""
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
                ("rejected", get(summary, "requests", "rejected"))]
    # Present only with serving.over_length: drop / clip.
    overview += [(k, get(summary, "requests", k)) for k in ("dropped", "clipped")
                 if get(summary, "requests", k) is not None]
    overview += [("preemptions", get(summary, "preemptions")), ("model steps", get(summary, "steps"))]
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
    closed = get(summary, "closed_loop")
    if isinstance(closed, dict) and closed:
        report.table("Closed-loop clients (clients ~ throughput x (mean time in system + mean think time))",
                     ["quantity", "value"], [(k, fmt(v, 4)) for k, v in closed.items()])

    reps = get(summary, "replicas")
    if isinstance(reps, list) and reps:
        if schema:
            keyed = instance_keys(schema)
            cols = [k for k, _ in keyed]
            percent_cols = {k for k, m in keyed if m.get("unit") == "1"}
            header = ["replica"] + [k.replace("_", " ") for k in cols]
        else:  # a run from before metrics_schema.json
            cols = ["device", "tensor_parallel", "completed", "steps", "busy_fraction",
                    "prefill_tokens", "decode_tokens", "preemptions", "kv_blocks_total",
                    "kv_utilization_mean", "kv_utilization_peak"]
            percent_cols = {"busy_fraction", "kv_utilization_mean", "kv_utilization_peak"}
            header = ["replica", "device", "TP", "completed", "steps", "busy", "prefill tokens",
                      "decode tokens", "preemptions", "KV blocks", "KV util mean", "KV util peak"]
        rows = [[f"r{i}"] + [pct(r.get(c)) if c in percent_cols else fmt(r.get(c)) for c in cols]
                for i, r in enumerate(reps) if isinstance(r, dict)]
        report.table("Replicas", header, rows)

    notes = get(summary, "cost_model")
    if isinstance(notes, list) and notes:
        report.table("Cost model", ["note"], [[n] for n in notes])

    if schema:
        rows = [[m.get("name", ""), m.get("scope", ""), m.get("unit", ""),
                 m.get("aggregation", ""),
                 m.get("steps_column") or m.get("summary_key") or "-", m.get("description", "")]
                for m in schema["metrics"] if isinstance(m, dict)]
        report.table("Metrics (metrics_schema.json)",
                     ["metric", "scope", "unit", "aggregation", "where", "description"], rows)


def step_breakdown_table(report, busy, idle, labels):
    rows = []
    for i, label in enumerate(map(full_label, labels)):
        total = busy[:, i].sum() + idle[i]
        cells = [fmt(float(s), 2) for s in busy[:3, i]] + [fmt(float(idle[i]), 2)]
        rows.append([label] + cells + [pct(busy[:, i].sum() / total) if total > 0 else "-"])
    report.table("Step-time breakdown (s)",
                 ["replica", "prefill only", "decode only", "mixed", "idle", "busy"], rows)


def kv_tiers_table(report, kv, totals):
    """TOTALS as run_metrics.kv_tier_totals gives them."""
    lookup = totals["lookup"]
    rows = []
    for i, tier in enumerate(kv.tiers):
        rate = pct(totals["hit"][i] / lookup) if lookup > 0 else "-"
        rows.append([tier, "yes" if kv.tier_shared[i] else "no",
                     fmt(int(totals["capacity"][i])), fmt(int(totals["hit"][i])), rate,
                     fmt(int(totals["written"][i])), fmt(int(totals["evicted"][i]))])
    hit = float(totals["hit"].sum())
    rows.append(["all tiers", "", "", fmt(int(hit)), pct(hit / lookup) if lookup > 0 else "-",
                 fmt(int(totals["written"].sum())), fmt(int(totals["evicted"].sum()))])
    report.table(f"KV tiers (kv_tiers.csv; {fmt(int(lookup))} prompt tokens looked up)",
                 ["tier", "shared", "capacity (blocks)", "hit tokens", "hit rate",
                  "tokens written", "blocks evicted"], rows)
