"""Atomic file writes: a reader never sees a half-written report file."""

import contextlib
import os


@contextlib.contextmanager
def atomic_open(path, mode="wb", **kwargs):
    """Open PATH.tmp for writing; once the block has finished, rename it over PATH."""
    tmp = path + ".tmp"
    with open(tmp, mode, **kwargs) as f:
        yield f
    os.replace(tmp, path)
