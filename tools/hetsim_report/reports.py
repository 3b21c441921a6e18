"""Which sections a run report (serving or training) and a sweep report hold, in page order,
and which of them a folder gets."""

import os

from .explain_report import report_explain
from .html_page import Report
from .inputs import InputError
from .run_inputs import load_kv_tiers, load_run
from .run_metrics import (cached_fraction_stats, cached_fractions, kv_tier_totals,
                          kv_tier_windows, replica_count, replica_labels, run_end_time,
                          step_time_breakdown)
from .run_plots import (plot_kv_tiers, plot_kv_utilization, plot_latency_cdfs,
                        plot_step_breakdown, plot_throughput_and_queue,
                        plot_ttft_by_cached_fraction)
from .run_tables import kv_tiers_table, run_tables, step_breakdown_table
from .schema import load_schema
from .sweep_inputs import load_sweep
from .sweep_plots import plot_max_rate, plot_max_rate_pareto, points_plots
from .sweep_tables import max_rate_tables, points_table, sweep_definition_table
from .train_inputs import is_training_run, load_training_run
from .train_metrics import stage_memory, time_breakdown
from .train_plots import plot_iterations, plot_stage_memory, plot_time_breakdown
from .train_sweep import training_points_plots, training_points_tables
from .train_tables import breakdown_table, memory_table, training_tables


def report_run(folder, outdir):
    summary, req, steps, steps_file = load_run(folder)
    kv = load_kv_tiers(folder)
    schema = load_schema(folder)
    t_end = run_end_time(summary, req)

    name = summary.get("scenario") or os.path.basename(os.path.abspath(folder))
    report = Report(outdir, f"hetsim run report: {name}")
    run_tables(report, summary, schema)

    report.heading("Latency and load")
    if req.completed:
        plot_latency_cdfs(report, req)
        plot_throughput_and_queue(report, req, t_end)
    else:
        report.note("No completed requests: latency and throughput plots skipped.")

    # Only runs with a prefix cache (requests.csv's cached_tokens) or kv_tiers.csv get this.
    cached = cached_fractions(req)
    if cached is not None or kv is not None:
        report_prefix_cache(report, cached, kv, t_end)

    report.heading("Replicas")
    if steps is None:
        report.note("steps.csv and step_windows.csv are absent (output.steps: none): KV-cache and "
                    "step-time plots skipped.")
    elif len(steps["replica"]) == 0:
        report.note(f"{steps_file} has no rows: KV-cache and step-time plots skipped.")
    else:
        labels = replica_labels(summary, replica_count(summary, steps))
        plot_kv_utilization(report, steps, labels, t_end)
        busy, idle = step_time_breakdown(steps, len(labels), t_end)
        plot_step_breakdown(report, busy, idle, labels, t_end)
        step_breakdown_table(report, busy, idle, labels)

    report.write(f"{summary.get('model', '?')} on {summary.get('fleet', '?')}, "
                 f"seed {summary.get('seed', '?')}; run folder {os.path.abspath(folder)}")


def report_prefix_cache(report, cached, kv, t_end):
    """CACHED: (fraction, TTFT) as run_metrics.cached_fractions gives them, or None; KV:
    run_inputs.KvTiers or None."""
    report.heading("Prefix cache and KV tiers")
    if cached is not None:
        frac, ttft = cached
        if (frac > 0).any():
            plot_ttft_by_cached_fraction(report, frac, ttft, cached_fraction_stats(frac, ttft))
        else:
            report.note("No completed request found prompt tokens in the prefix cache: "
                        "TTFT by cached fraction skipped.")
    if kv is None:
        return
    if len(kv) == 0:
        report.note("kv_tiers.csv has no rows: KV tier plot skipped.")
        return
    agg = kv_tier_windows(kv)
    plot_kv_tiers(report, kv, agg, t_end)
    kv_tiers_table(report, kv, kv_tier_totals(kv, agg))


def report_training_run(folder, outdir):
    summary, iterations, groups = load_training_run(folder)
    t = summary["training"]
    name = summary.get("scenario") or os.path.basename(os.path.abspath(folder))
    report = Report(outdir, f"hetsim training report: {name}")
    training_tables(report, summary)

    report.heading("Where the time goes")
    labels, secs, per_stage = time_breakdown(groups)
    plot_time_breakdown(report, labels, secs, per_stage, t.get("step_time_s"))
    breakdown_table(report, labels, secs, per_stage)

    report.heading("Memory")
    stages, gib, totals = stage_memory(groups)
    device_gib = t.get("device_memory_gib")
    if stages:
        plot_stage_memory(report, stages, gib, device_gib)
        memory_table(report, stages, gib, totals, device_gib)
    else:
        report.note("ranks.csv gives no memory per stage: memory plot skipped.")

    report.heading("Iterations")
    if len(iterations):
        plot_iterations(report, iterations, t.get("step_time_s"), t.get("mfu"))
    else:
        report.note("iterations.csv has no rows: step-time plot skipped.")

    report.write(f"{summary.get('model', '?')} on {summary.get('cluster', '?')}, "
                 f"seed {summary.get('seed', '?')}; run folder {os.path.abspath(folder)}")


def report_sweep(folder, outdir):
    spec, axis_keys, points, max_rate, cheapest = load_sweep(folder)
    search = spec.get("search") if isinstance(spec.get("search"), dict) else {}
    slo = spec.get("slo") or {}

    report = Report(outdir, f"hetsim sweep report: {os.path.basename(os.path.abspath(folder))}")
    report.heading("Sweep")
    sweep_definition_table(report, spec, points, slo)

    report.heading("Plots")
    training = points is not None and points.is_training()
    if training:
        training_points_plots(report, points, folder)
        pareto = set()
    else:
        pareto = points_plots(report, points, spec.get("mode") == "zip", slo) if points else set()
    if max_rate and max_rate.rows:
        plot_max_rate(report, max_rate, search)
        if max_rate.has_cost:
            plot_max_rate_pareto(report, max_rate, search)

    report.heading("Tables")
    if training:
        training_points_tables(report, points, folder)
    elif points:
        points_table(report, points, pareto)
    if max_rate:
        max_rate_tables(report, max_rate, cheapest)
    report.write(f"{spec.get('mode', '?')} sweep over {', '.join(axis_keys) or 'no axes'}; "
                 f"sweep folder {os.path.abspath(folder)}")


def build_report(folder):
    """Write FOLDER/report/ for a run or sweep folder; returns the path of its index.html.
    InputError on bad input, OSError when the report cannot be written."""
    if not os.path.isdir(folder):
        raise InputError(folder, "not a directory")
    # A search sweep writes sweep.json and max_rate.csv but no points.csv.
    if any(os.path.exists(os.path.join(folder, f)) for f in ("points.csv", "sweep.json")):
        kind = report_sweep
    elif is_training_run(folder):
        kind = report_training_run
    elif os.path.exists(os.path.join(folder, "requests.csv")):
        kind = report_run
    elif os.path.exists(os.path.join(folder, "explain.json")):
        kind = report_explain
    else:
        raise InputError(folder, "neither points.csv or sweep.json (sweep folder), requests.csv "
                                 "(run folder), ranks.csv and iterations.csv (training run "
                                 "folder) nor explain.json (explain folder) found")
    outdir = os.path.join(folder, "report")
    kind(folder, outdir)
    return os.path.join(outdir, "index.html")
