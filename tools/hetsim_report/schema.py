"""metrics_schema.json, written by hetsim next to every run's results and generated from the
simulator's metric declarations: each metric's name, scope, unit, aggregation and where it
appears (steps.csv column, summary.json key, sweep column). The report takes column lists and
units from it instead of repeating them; runs written before the schema existed get None."""

import os

from .inputs import InputError, read_json

SCHEMA = "hetsim metrics 1"


def load_schema(folder):
    """The folder's metrics_schema.json as a dict, or None if absent."""
    path = os.path.join(folder, "metrics_schema.json")
    if not os.path.exists(path):
        return None
    schema = read_json(path)
    if schema.get("schema") != SCHEMA or not isinstance(schema.get("metrics"), list):
        raise InputError(path, f"not a '{SCHEMA}' schema")
    return schema


def instance_keys(schema):
    """(key, metric) of the per-instance entries of summary.json ("replicas"), in order."""
    out = []
    for m in schema["metrics"]:
        key = m.get("summary_key", "") if isinstance(m, dict) else ""
        if m.get("scope") == "instance" and key.startswith("replicas[]."):
            out.append((key[len("replicas[]."):], m))
    return out
