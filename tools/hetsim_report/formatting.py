"""Display text shared by tables and plots: numbers, percentages, axis names and SLOs."""

import math


def fmt(value, digits=3):
    """Table cell text for a number: ints as ints, floats with DIGITS decimals, None as '-'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def pct(value):
    return "-" if value is None else f"{100.0 * value:.1f}%"


# Units of sweep axes whose meaning is known; other axes are labelled by their key alone.
AXIS_UNITS = {"workload.arrival.rate": "requests/s"}


def axis_label(key):
    return f"{key} ({AXIS_UNITS[key]})" if key in AXIS_UNITS else key


def combo_label(keys, values, empty="all points"):
    return ", ".join(f"{k}={v}" for k, v in zip(keys, values)) or empty


def slo_text(slo):
    if not slo:
        return ""
    parts = [f"{k.replace('_', ' ').upper()} ≤ {v * 1e3:g} ms" for k, v in slo.items()
             if isinstance(v, (int, float))]
    return ", ".join(parts)
