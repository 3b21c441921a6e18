"""The sweep report's tables: the sweep definition, points.csv, max_rate.csv and
cheapest.json."""

from .formatting import combo_label, fmt, pct, slo_text

COUNT_COLUMNS = {"completed", "rejected", "preemptions", "gpus"}
# points.csv latency columns are in seconds; the HTML table shows them in milliseconds.
LATENCY_COLUMNS = {f"{m}_{s}" for m in ("ttft", "tpot", "e2e")
                   for s in ("mean", "p50", "p90", "p99")}


def sweep_definition_table(report, spec, points, slo):
    info = [("spec", spec.get("spec")), ("base scenario", spec.get("base")),
            ("mode", spec.get("mode")), ("points planned", spec.get("points"))]
    if points:
        info += [("points in points.csv", len(points.raw)), ("points ok", len(points.ok()))]
        infeasible = sum(r["status"] == "infeasible" for r in points.raw)
        if infeasible:  # training plans that do not fit
            info.append(("points infeasible (do not fit)", infeasible))
    info.append(("SLO", slo_text(slo) or "none"))
    info += [(f"axis {a.get('key')}", ", ".join(str(v) for v in a.get("values") or []))
             for a in spec["axes"]]
    search = spec.get("search")
    if isinstance(search, dict):
        info += [("searched axis", search.get("axis")),
                 ("search range", f"{search.get('lo')} .. {search.get('hi')}"),
                 ("search SLO", slo_text(search.get("slo") or {}) or "none")]
    report.table("Sweep definition", ["item", "value"], [(k, fmt(v)) for k, v in info])


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

