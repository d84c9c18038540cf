#!/usr/bin/python3
"""Compares a merged sharded results file with an unsharded run of the same experiment.

  compare_results.py MERGED.h5 REFERENCE.h5 [--shard-prefix PREFIX --shards N]

Equal means: /runs equal in every column but wall_seconds (floats compared bit for bit), /runs_config
equal, the same /metrics and /trajectories datasets with identical shapes and bits, /events equal as a
set of rows (an unsharded run writes events in the order its threads finish runs). With --shards,
also checks that shard i (PREFIX.shard<i>.h5) finished exactly the runs with run_index % N == i, so a
task that ignored its shard (and ran everything) is caught even though the merge would hide it.
Exit 0 when everything matches, 1 otherwise. Needs Debian's python3-h5py and numpy.
"""
import argparse
import sys

import h5py
import numpy as np

FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what)


def text(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def bits_equal(a, b):
    """Arrays equal bit for bit (floats through their integer view, so NaN == NaN and -0 != 0)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":
        view = {2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize]
        return np.array_equal(a.view(view), b.view(view))
    return np.array_equal(a, b)


def compare_table(name, a, b, skip=()):
    check(a.shape == b.shape, f"{name}: {a.shape} rows vs {b.shape}")
    if a.shape != b.shape:
        return
    if a.dtype.names is None:
        check(bits_equal(a, b), f"{name}: values differ")
        return
    check(set(a.dtype.names) == set(b.dtype.names), f"{name}: columns {a.dtype.names} vs {b.dtype.names}")
    for col in a.dtype.names:
        if col in skip or col not in b.dtype.names:
            continue
        check(bits_equal(a[col], b[col]), f"{name}: column {col} differs")


def datasets(group):
    out = {}
    group.visititems(lambda path, obj: out.__setitem__(path, obj) if isinstance(obj, h5py.Dataset) else None)
    return out


def event_rows(f):
    if "events" not in f:
        return []
    ev = f["events"][:]
    if ev.dtype.names is None:
        return sorted(text(x) for x in ev)
    return sorted(tuple(text(r[c]) if isinstance(r[c], bytes) else r[c].item() for c in ev.dtype.names) for r in ev)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("merged")
    ap.add_argument("reference")
    ap.add_argument("--shard-prefix")
    ap.add_argument("--shards", type=int)
    a = ap.parse_args()

    with h5py.File(a.merged, "r") as m, h5py.File(a.reference, "r") as r:
        for top in ["runs", "runs_config", "metrics", "trajectories", "events"]:
            check((top in m) == (top in r), f"/{top} present in one file only")
        runs = r["runs"][:]
        nruns = len(runs)
        check(nruns > 0, "reference has runs")
        check(all(text(s).rstrip("\0") == "done" for s in runs["status"]), "reference: all runs done")
        check(all(text(s).rstrip("\0") == "done" for s in m["runs"]["status"]), "merged: all runs done")
        compare_table("/runs", m["runs"][:], runs, skip=("wall_seconds",))
        compare_table("/runs_config", m["runs_config"][:], r["runs_config"][:])
        for group in ["metrics", "trajectories"]:
            if group not in m or group not in r:
                continue
            dm, dr = datasets(m[group]), datasets(r[group])
            check(sorted(dm) == sorted(dr), f"/{group}: {sorted(dm)} vs {sorted(dr)}")
            for name in sorted(set(dm) & set(dr)):
                x, y = dm[name][()], dr[name][()]
                check(x.shape == y.shape, f"/{group}/{name}: shape {x.shape} vs {y.shape}")
                check(x.shape[:1] == (nruns,), f"/{group}/{name}: first axis {x.shape[:1]} is not the {nruns} runs")
                check(bits_equal(x, y), f"/{group}/{name}: bits differ")
        em, er = event_rows(m), event_rows(r)
        check(em == er, f"/events: {len(em)} rows vs {len(er)}, or contents differ")
        ncompared = sum(len(datasets(r[g])) for g in ["metrics", "trajectories"] if g in r)
        print(f"compare: {nruns} runs, {ncompared} metric/trajectory datasets, {len(er)} events")

    if a.shard_prefix:
        seen = []
        for i in range(a.shards):
            path = f"{a.shard_prefix}.shard{i}.h5"
            with h5py.File(path, "r") as s:
                sr = s["runs"][:]
                done = sorted(int(x) for x, st in zip(sr["run_index"], sr["status"]) if text(st).rstrip("\0") == "done")
                want = [k for k in range(nruns) if k % a.shards == i]
                check(done == want, f"{path}: finished runs {done}, expected {want}")
                seen += done
        check(sorted(seen) == list(range(nruns)), "shards together cover every run once")

    if FAILURES:
        print(f"compare: {len(FAILURES)} check(s) failed")
        return 1
    print("compare: merged shards identical to the unsharded run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
