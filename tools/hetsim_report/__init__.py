"""Plots and one HTML page for a hetsim run folder or sweep folder (driven by tools/report.py).

Modules, in the order data flows through them:
  inputs, run_inputs, sweep_inputs   read and check the folder's files (InputError on bad input)
  train_inputs                       the same for a training run folder
  run_metrics, train_metrics         numpy binning and aggregation behind the run plots
  plotting, atomic_files             matplotlib setup, deterministic atomic PNG/SVG saving
  run_plots, sweep_plots             one function per plot
  train_plots                        one function per training run plot
  formatting, html_page              cell and label text; the page, its tables and figures
  run_tables, sweep_tables           the page's summary tables
  train_tables                       the training run page's tables
  train_sweep                        a training sweep's plots and tables (points.csv train_*)
  reports                            which sections a run or sweep report holds, in order
"""

from .inputs import InputError
from .reports import build_report

__all__ = ["InputError", "build_report"]
