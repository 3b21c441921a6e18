#!/usr/bin/python3
"""Turn a hetsim run folder or sweep folder into plots and one HTML page.

    /usr/bin/python3 tools/report.py DIR

DIR is a run folder (written by `hetsim run`: requests.csv, summary.json, optional steps.csv)
or a sweep folder (written by `hetsim sweep`: sweep.json with points.csv and/or max_rate.csv;
a rate-search sweep writes max_rate.csv and cheapest.json but no points.csv).
The report goes to DIR/report/: every plot as NAME.png and NAME.svg, and index.html, which
shows the PNGs, links the SVGs and holds the summary tables. Every file is written to NAME.tmp
and renamed into place, index.html last, so a reader never sees a half-written report.

Exit status: 0 on success, 2 on bad input (one `error: FILE: what is wrong` line on stderr),
1 when the report cannot be written.

This file only handles the command line; the work is done by the hetsim_report package next
to it. Needs Debian's python3-matplotlib (which pulls in python3-numpy); standard library
otherwise.
"""

import os
import sys

# The package sits next to this script: found from any working directory (and through a
# symlink to the script). No bytecode caches: nothing is written into the source tree.
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
sys.dont_write_bytecode = True
from hetsim_report import InputError, build_report  # noqa: E402


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print("usage: report.py DIR   (a hetsim run folder or sweep folder)", file=sys.stderr)
        return 2
    folder = argv[1]
    try:
        index = build_report(folder)
    except InputError as e:
        print(f"error: {e.path}: {e.what}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e.filename or folder}: cannot write report ({e.strerror or e})",
              file=sys.stderr)
        return 1
    print(index)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
