#!/usr/bin/python3
"""Plot metrics of a collapse results file against generation, one line per parameter setting.

Usage:
    /usr/bin/python3 scripts/plot_collapse.py RESULTS.h5 --metric NAME [--metric NAME2 ...]
                                              [-o OUT.png] [--by PARAM] [--logy]

Reads the results file (schema v1, DESIGN.md §4 and src/io/result_writer.hpp):
  /runs            compound [run]: run_index, run_key, replicate, seed, status, wall_seconds, and one
                   column per swept parameter (every other column)
  /metrics/<name>  float64 [run × generation], NaN where not measured; attrs units, description

Runs whose status is not "done" are left out (and counted). Runs are grouped by the combination of
their swept-parameter values, or by PARAM only with --by (repeatable). For each group it draws the mean
over replicates per generation and a 95% band, mean ± t(0.975, r−1)·sd/√r with r the number of
replicates measured at that generation (scipy's Student t; 1.96 if scipy is missing; no band where
r < 2). NaNs are skipped, so runs that stopped early only count where they were measured.

Several --metric give one subplot each, stacked, sharing the generation axis. The default output is
next to RESULTS: <RESULTS without .h5>_<metric>[_<metric2>...].png. Prints the output path.

Exit codes: 0 ok; 1 nothing to plot (no run is done); 2 bad arguments (unknown metric or parameter,
unreadable file) with a message that lists what is available.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import warnings
from pathlib import Path

import h5py
import numpy as np

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

try:
    from scipy.stats import t as student_t
except ImportError:  # pragma: no cover - scipy is a project dependency, but keep working without it
    student_t = None

FIXED_COLUMNS = {"run_index", "run_key", "replicate", "seed", "status", "wall_seconds"}


class UsageError(Exception):
    """Bad input from the user: printed, exit code 2."""


def decode(value):
    """Turns HDF5 strings (bytes, numpy bytes, fixed-length with NUL padding) into str; numbers to Python."""
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8", errors="replace").rstrip("\x00")
    if isinstance(value, np.generic):
        return value.item()
    return value


def attr_text(obj, name: str) -> str:
    value = obj.attrs.get(name, "")
    if isinstance(value, np.ndarray):  # an attribute stored as a 1-element array
        value = value.reshape(-1)[0] if value.size else ""
    return str(decode(value)).strip()


def format_value(value, dtype) -> str:
    """How a parameter value appears in the legend: bools (stored as u8) as true/false, floats with %g."""
    if dtype == np.uint8 or dtype == np.bool_:
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def sort_key(values: tuple):
    """Orders groups by their values, numbers numerically, without comparing str with int."""
    return tuple((0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v)) for v in values)


def read_runs(f: h5py.File):
    if "runs" not in f:
        raise UsageError("the file has no /runs table (is it a collapse results file?)")
    runs = f["runs"][()]
    names = runs.dtype.names or ()
    if "status" not in names:
        raise UsageError(f"/runs has no status column; columns: {', '.join(names)}")
    params = [n for n in names if n not in FIXED_COLUMNS]
    status = np.array([decode(s) for s in runs["status"]], dtype=object)
    columns = {p: [decode(v) for v in runs[p]] for p in params}
    dtypes = {p: runs.dtype[p] for p in params}
    return status, params, columns, dtypes


def band_half_width(sd: np.ndarray, n: np.ndarray) -> np.ndarray:
    """95% half-width of the mean: t(0.975, n−1)·sd/√n, NaN where n < 2."""
    half = np.full(sd.shape, np.nan)
    ok = n >= 2
    if student_t is not None:
        q = student_t.ppf(0.975, n[ok] - 1)
    else:
        q = 1.96
    half[ok] = q * sd[ok] / np.sqrt(n[ok])
    return half


def summarize(values: np.ndarray):
    """values: replicates × generations (NaN = not measured) → mean, half-width, count per generation."""
    n = np.sum(~np.isnan(values), axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns, ddof with n = 1
        mean = np.nanmean(values, axis=0)
        sd = np.nanstd(values, axis=0, ddof=1) if values.shape[0] >= 2 else np.full(values.shape[1], np.nan)
    return mean, band_half_width(sd, n), n


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        description="Plot collapse metrics against generation (mean over replicates, 95%% band).",
        epilog="Example: plot_collapse.py results/sweep.h5 --metric distinct_types --by loop.anchoring")
    ap.add_argument("results", type=Path, help="results file (HDF5, schema v1)")
    ap.add_argument("--metric", action="append", required=True, metavar="NAME",
                    help="a dataset under /metrics; repeat for stacked subplots")
    ap.add_argument("-o", "--output", type=Path, help="output PNG (default: next to RESULTS)")
    ap.add_argument("--by", action="append", metavar="PARAM",
                    help="group by this swept parameter only (repeatable); default: all swept parameters")
    ap.add_argument("--logy", action="store_true", help="logarithmic y axis")
    args = ap.parse_args(argv)

    try:
        f = h5py.File(args.results, "r")
    except (OSError, FileNotFoundError) as e:
        raise UsageError(f"cannot open {args.results} as HDF5: {e}") from None

    with f:
        available = sorted(f["metrics"].keys()) if "metrics" in f else []
        unknown = [m for m in args.metric if m not in available]
        if unknown:
            raise UsageError(f"unknown metric {', '.join(unknown)}; available metrics in {args.results}: "
                             + (", ".join(available) if available else "(none)"))

        status, params, columns, dtypes = read_runs(f)
        by = args.by or params
        missing = [p for p in by if p not in params]
        if missing:
            raise UsageError(f"--by {', '.join(missing)} is not a swept parameter; swept parameters: "
                             + (", ".join(params) if params else "(none: every run has the same parameters)"))

        done = status == "done"
        n_runs = len(status)
        if not done.any():
            counts = {s: int(np.sum(status == s)) for s in sorted(set(status))}
            print(f"error: no run in {args.results} is done (status counts: {counts})", file=sys.stderr)
            return 1
        if not done.all():
            print(f"note: left out {n_runs - int(done.sum())} of {n_runs} runs whose status is not done", file=sys.stderr)

        # group: tuple of values of the `by` parameters → row indices of done runs
        groups: dict[tuple, list[int]] = {}
        for i in np.flatnonzero(done):
            groups.setdefault(tuple(columns[p][i] for p in by), []).append(int(i))
        keys = sorted(groups, key=sort_key)
        # parameters with one value across all groups go to the figure title, not every legend entry
        constant = [j for j, _ in enumerate(by) if len(keys) > 1 and len({k[j] for k in keys}) == 1]
        shown = [j for j in range(len(by)) if j not in constant]

        def label_of(key: tuple) -> str:
            return ", ".join(f"{by[j]}={format_value(key[j], dtypes[by[j]])}" for j in shown) or "all runs"

        n_metrics = len(args.metric)
        fig, axes = plt.subplots(n_metrics, 1, figsize=(8, 3.6 * n_metrics + 0.8), sharex=True, squeeze=False)
        colors = plt.get_cmap("tab10" if len(keys) <= 10 else "tab20").colors
        for ax, name in zip(axes[:, 0], args.metric):
            ds = f["metrics"][name]
            data = np.asarray(ds[()], dtype=float)
            if data.ndim != 2:
                raise UsageError(f"/metrics/{name} has shape {data.shape}, expected [run × generation]")
            if data.shape[0] < n_runs:
                print(f"warning: /metrics/{name} has {data.shape[0]} rows but /runs has {n_runs}; "
                      "runs without a row are left out", file=sys.stderr)
            generations = np.arange(data.shape[1])
            means, halves = [], []
            for k, key in enumerate(keys):
                rows = [i for i in groups[key] if i < data.shape[0]]
                if not rows:
                    continue
                mean, half, n = summarize(data[rows])
                means.append(mean)
                halves.append(half)
                label = f"{label_of(key)}  (r={len(rows)})"
                color = colors[k % len(colors)]
                ax.plot(generations, mean, color=color, lw=1.6, label=label)
                if np.any(~np.isnan(half)):
                    ax.fill_between(generations, mean - half, mean + half, color=color, alpha=0.2, lw=0)
            units = attr_text(ds, "units")
            ax.set_ylabel(f"{name} ({units})" if units else name)
            description = attr_text(ds, "description")
            ax.set_title("\n".join(textwrap.wrap(description or name, 80, break_on_hyphens=False)), fontsize=10)
            if args.logy:
                # A band reaching 0 or below is clipped at the bottom edge; the limits follow the means.
                ax.set_yscale("log", nonpositive="clip")
                positive = [m[m > 0] for m in means if np.any(m > 0)]
                if positive:
                    lo = min(float(np.min(m)) for m in positive)
                    hi = max(float(np.nanmax(np.where(np.isnan(h), m, m + h)[m > 0]))
                             for m, h in zip(means, halves) if np.any(m > 0))
                    ax.set_ylim(lo / 2, hi * 1.5)
            ax.grid(True, alpha=0.3)
        last = axes[-1, 0]
        last.set_xlabel("generation")
        last.xaxis.get_major_locator().set_params(integer=True)
        subtitle = args.results.name
        if constant:
            subtitle += "   (all runs: " + ", ".join(
                f"{by[j]}={format_value(keys[0][j], dtypes[by[j]])}" for j in constant) + ")"
        fig.suptitle(subtitle, fontsize=9, color="0.4")
        fig.tight_layout()
        # One legend for all subplots, below the figure (added after tight_layout so it does not squeeze
        # the axes; savefig's tight bounding box grows the image to hold it).
        handles, labels = last.get_legend_handles_labels()
        longest = max((len(x) for x in labels), default=0)
        ncol = 1 if longest > 45 else 2 if longest > 25 else 3
        fig.legend(handles, labels, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=ncol,
                   frameon=False)

    out = args.output
    if out is None:
        stem = args.results.with_suffix("") if args.results.suffix in (".h5", ".hdf5") else args.results
        out = stem.with_name(stem.name + "_" + "_".join(args.metric) + ".png")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
    print(out)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
