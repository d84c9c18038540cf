"""Tiny helpers shared by the reproduction notebooks: open a collapse results file, group runs by their
swept parameters, mean ± 95 % band over replicates, Zipf pmfs and the n-gram rank grid.

Only h5py, numpy, scipy and matplotlib. The results-file layout is README.md § "Results file".
"""
from __future__ import annotations

import os
import tomllib
import warnings
from pathlib import Path

import h5py
import numpy as np
from scipy.stats import t as student_t

REPO = Path(__file__).resolve().parent.parent
FIXED_COLUMNS = {"run_index", "run_key", "replicate", "seed", "status", "wall_seconds"}


def results_path(name: str) -> Path:
    """$COLLAPSE_RESULTS if set, else results/<name>.h5 in the repository."""
    return Path(os.environ.get("COLLAPSE_RESULTS") or REPO / "results" / f"{name}.h5")


def _decode(v):
    if isinstance(v, (bytes, np.bytes_)):
        return v.decode("utf-8", errors="replace").rstrip("\x00")
    if isinstance(v, np.generic):
        return v.item()
    return v


class Results:
    """One results file, read fully into memory (the reproductions are small).

    runs[col]  list of decoded /runs values; params: the swept columns; config(i): run i's TOML as a dict.
    """

    def __init__(self, path):
        self.path = Path(path)
        with h5py.File(self.path, "r") as f:
            table = f["runs"][()]
            self.runs = {c: [_decode(v) for v in table[c]] for c in table.dtype.names}
            self.params = [c for c in table.dtype.names if c not in FIXED_COLUMNS]
            self.metrics = {k: np.asarray(f["metrics"][k][()], dtype=float) for k in f["metrics"]}
            self.trajectories = {k: np.asarray(f["trajectories"][k][()], dtype=float)
                                 for k in f.get("trajectories", {})}
            self.configs = [_decode(c) for c in f["runs_config"][()]]
            self.experiment = _decode(f.attrs["experiment"])
        self.status = np.array(self.runs["status"])
        self.n_generations = next(iter(self.metrics.values())).shape[1]
        self.generations = np.arange(self.n_generations)

    def config(self, i: int) -> dict:
        return tomllib.loads(self.configs[i])

    def metric(self, name: str) -> np.ndarray:
        """[run × generation]; KeyError lists what exists."""
        if name not in self.metrics:
            raise KeyError(f"no metric {name!r} in {self.path}; available: {', '.join(sorted(self.metrics))}")
        return self.metrics[name]

    def traj(self, name: str) -> np.ndarray:
        if name not in self.trajectories:
            raise KeyError(f"no trajectory {name!r} in {self.path}; available: {', '.join(sorted(self.trajectories))}")
        return self.trajectories[name]

    def groups(self, by=None, statuses=("done",)) -> dict:
        """{tuple of values of `by` (default: every swept column): row indices}, sorted by value.

        Runs with a status outside `statuses` are left out (pass ("done", "failed") to keep the
        generations a failed run measured before it stopped; its later generations are NaN)."""
        by = self.params if by is None else list(by)
        out: dict = {}
        for i, s in enumerate(self.status):
            if s in statuses:
                out.setdefault(tuple(self.runs[p][i] for p in by), []).append(i)
        key = lambda k: tuple((0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v)) for v in k)
        return {k: np.array(out[k]) for k in sorted(out, key=key)}

    def summary(self) -> str:
        counts = {s: int(np.sum(self.status == s)) for s in sorted(set(self.status))}
        return (f"{self.path.name}: {len(self.status)} runs {counts}, {self.n_generations} generations, "
                f"swept: {', '.join(self.params) or '(nothing)'}")


def mean_band(values: np.ndarray, axis: int = 0):
    """Mean over replicates (NaN skipped), 95 % t half-width t(0.975, r−1)·sd/√r, and r."""
    values = np.asarray(values, dtype=float)
    r = np.sum(~np.isnan(values), axis=axis)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=axis)
        sd = np.nanstd(values, axis=axis, ddof=1)
        half = student_t.ppf(0.975, np.maximum(r - 1, 1)) * sd / np.sqrt(r)
    half = np.where(r >= 2, half, np.nan)
    return mean, half, r


def quantile_band(values: np.ndarray, q=(0.05, 0.95), axis: int = 0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanquantile(values, q[0], axis=axis), np.nanquantile(values, q[1], axis=axis)


def plot_band(ax, x, values, label=None, color=None, quantiles=None, logy=False, **kw):
    """Mean ± 95 % band over replicates (rows of `values`); with quantiles=(lo, hi) also a light
    quantile band across replicates. logy: the band is drawn only where its lower edge is > 0."""
    mean, half, _ = mean_band(values)
    line, = ax.plot(x, mean, label=label, color=color, lw=1.5, **kw)
    lower = mean - half
    if logy:
        lower = np.where(lower > 0, lower, np.nan)
    ax.fill_between(x, lower, mean + half, color=line.get_color(), alpha=0.25, lw=0)
    if quantiles is not None:
        lo, hi = quantile_band(values, quantiles)
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.08, lw=0)
    return line


def label(key, by) -> str:
    return ", ".join(f"{b.split('.')[-1]}={v}" for b, v in zip(by, key))


def print_table(header, rows):
    """Fixed-width table; floats with 4 significant digits."""
    cells = [[f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[j]) for r in cells)) for j, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


def zipf_pmf(vocab_size: int, exponent: float, offset: float = 0.0) -> np.ndarray:
    """p(r) ∝ (r + offset)^(−exponent), r = 1..V (truth.kind = zipf / zipf_mandelbrot)."""
    r = np.arange(1, vocab_size + 1, dtype=float)
    w = (r + offset) ** (-exponent)
    return w / w.sum()


def rank_grid() -> np.ndarray:
    """The n-gram trajectories' rank grid r_j = round(10^(j/10)), j = 0..70."""
    return np.round(10.0 ** (np.arange(71) / 10.0)).astype(int)
