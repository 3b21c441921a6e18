"""Shared matplotlib setup and figure saving. Plot modules take pyplot from here, so the
backend and the determinism settings are in place before any figure exists."""

import os

import matplotlib

matplotlib.use("Agg")  # no display: render straight to files
import matplotlib.pyplot as plt  # noqa: E402  (must follow the backend choice)

from .atomic_files import atomic_open  # noqa: E402

__all__ = ["plt", "save_figure"]

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


def save_figure(fig, outdir, name):
    """Save FIG as NAME.png and NAME.svg in OUTDIR (each atomically) and close it."""
    for kind, metadata in (("png", PNG_METADATA), ("svg", SVG_METADATA)):
        with atomic_open(os.path.join(outdir, f"{name}.{kind}")) as f:
            fig.savefig(f, format=kind, metadata=metadata, bbox_inches="tight")
    plt.close(fig)
