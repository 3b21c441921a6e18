"""Generic readers for the report's input files: JSON objects and CSV tables with a header.

Every problem with an input is an InputError naming the file, which tools/report.py prints as
`error: FILE: WHAT` with exit status 2.
"""

import csv
import json
import math


class InputError(Exception):
    """Bad input: reported as `error: FILE: WHAT` and exit status 2."""

    def __init__(self, path, what):
        super().__init__(f"{path}: {what}")
        self.path = path
        self.what = what


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise InputError(path, "missing")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(path, f"cannot read ({e})")
    except json.JSONDecodeError as e:
        raise InputError(path, f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}")
    if not isinstance(data, dict):
        raise InputError(path, "top level is not a JSON object")
    return data


def check_columns(path, header, required):
    """InputError unless the CSV HEADER (a list of column names) lists every REQUIRED column."""
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(path, f"header lacks column(s) {', '.join(missing)}")


def open_csv(path, required):
    """Yield the header, then (line number, row dict) per row of a CSV file, after checking
    that its header lists REQUIRED."""
    try:
        f = open(path, newline="", encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, "missing")
    except OSError as e:
        raise InputError(path, f"cannot read ({e})")
    with f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            if not header:
                raise InputError(path, "empty file (no header line)")
            check_columns(path, header, required)
            yield header
            for row in reader:
                if not row:
                    continue  # tolerate blank lines (e.g. a trailing one)
                if len(row) != len(header):
                    raise InputError(path, f"line {reader.line_num}: {len(row)} fields, "
                                           f"header has {len(header)}")
                yield reader.line_num, dict(zip(header, row))
        except csv.Error as e:
            raise InputError(path, f"line {reader.line_num}: {e}")
        except UnicodeDecodeError:
            raise InputError(path, "not UTF-8 text")


def parse_float(path, line, column, text, allow_empty=False):
    if text == "" and allow_empty:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(path, f"line {line}: {column} = '{text}' is not a number")
    if not math.isfinite(value):
        raise InputError(path, f"line {line}: {column} = '{text}' is not a finite number")
    return value
