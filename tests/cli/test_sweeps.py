#!/usr/bin/python3
"""Sweeps at scale, end to end: the same metric bits with 1 thread, 2 threads and 2 shards merged;
--resume after a finished run, after SIGINT and after kill -9; and the bad-input matrix for sweeps.
Run by ctest (label: integration); needs Debian's python3-h5py and numpy.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

from checks import check, finish, run


EXP = """
[experiment]
name = "sweep_test"
generations = {generations}
replicates = 3
seed = 5

[truth]
kind = "gaussian_mixture"
weights = [0.3, 0.7]
means = [[-1.0], [2.0]]
covariances = [[[0.5]], [[1.0]]]
heldout_samples = 300

[model]
kind = "gaussian_mixture"
components = 2

[loop]
samples_per_generation = {n}
anchoring = "replace"
real_fraction = 0.2

[metrics]
kl_samples = 0   # this test is about sweeps: keep runs as cheap as the EM itself
dcr_samples = 0
skip = ["wasserstein2"]

[sweep]
"loop.anchoring" = ["replace", "mix"]

[[sweep.zip]]
"model.components" = [1, 2]
"model.covariance" = ["full", "spherical"]
"""



def table(path):
    """Every dataset of a results file by name, rows sorted by run_index; wall_seconds left out."""
    out = {}
    with h5py.File(path, "r") as f:
        runs = f["runs"][:]
        order = np.argsort(runs["run_index"], kind="stable")
        for name in runs.dtype.names:
            if name != "wall_seconds":
                out["runs/" + name] = runs[name][order]
        out["runs_config"] = f["runs_config"][:][order]
        for group in ["metrics", "trajectories"]:
            for name, d in f[group].items():
                out[f"{group}/{name}"] = d[:][order].view(np.uint64)
        ev = f["events"][:]
        out["events"] = sorted((int(e["run_index"]), int(e["generation"]), bytes(e["kind"]), bytes(e["message"]))
                               for e in ev)
    return out


def same(a, b, what):
    check(set(a) == set(b), f"{what}: same datasets ({sorted(set(a) ^ set(b))})")
    for k in set(a) & set(b):
        x, y = a[k], b[k]
        eq = x == y if isinstance(x, list) else (x.shape == y.shape and np.array_equal(x, y))
        check(eq, f"{what}: {k} identical")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--collapse", required=True)
    ap.add_argument("--work-dir", required=True)
    a = ap.parse_args()
    w, c = a.work_dir, a.collapse
    shutil.rmtree(w, ignore_errors=True)
    os.makedirs(w)
    with open(os.path.join(w, "exp.toml"), "w") as f:
        f.write(EXP.format(generations=6, n=150))
    with open(os.path.join(w, "long.toml"), "w") as f:
        f.write(EXP.format(generations=3000, n=400))

    # 1 thread, 2 threads, 2 shards merged: identical.
    r1 = run(c, ["run", "exp.toml", "-o", "t1.h5", "--threads", "1", "--quiet"], w)
    check(r1.returncode == 0, f"1 thread: {r1.stderr}")
    r2 = run(c, ["run", "exp.toml", "-o", "t2.h5", "--threads", "2", "--quiet"], w)
    check(r2.returncode == 0, f"2 threads: {r2.stderr}")
    for i in range(2):
        r = run(c, ["run", "exp.toml", "-o", f"s{i}.h5", "--shard", f"{i}/2", "--quiet"], w)
        check(r.returncode == 0, f"shard {i}/2: {r.stderr}")
    env = dict(os.environ, SLURM_ARRAY_TASK_ID="1", SLURM_ARRAY_TASK_COUNT="2", SLURM_ARRAY_TASK_MIN="0")
    r = run(c, ["run", "exp.toml", "-o", "slurm1.h5", "--quiet"], w, env=env)
    check(r.returncode == 0, f"Slurm environment shard: {r.stderr}")
    env_gap = dict(os.environ, SLURM_ARRAY_TASK_ID="3", SLURM_ARRAY_TASK_COUNT="2", SLURM_ARRAY_TASK_MIN="3",
                   SLURM_ARRAY_TASK_MAX="7")
    r = run(c, ["run", "exp.toml", "-o", "gap.h5", "--quiet"], w, env=env_gap)
    check(r.returncode != 0 and "not contiguous" in r.stderr and "--shard" in r.stderr,
          f"a non-contiguous Slurm array is refused: {r.stderr.strip()}")
    rm = run(c, ["merge", "merged.h5", "s0.h5", "s1.h5"], w)
    check(rm.returncode == 0, f"merge: {rm.stderr}")
    ref = table(os.path.join(w, "t1.h5"))
    check(len(ref["runs/run_index"]) == 12, "12 runs (2 anchorings x 2 zipped settings x 3 replicates)")
    same(ref, table(os.path.join(w, "t2.h5")), "2 threads")
    same(ref, table(os.path.join(w, "merged.h5")), "2 shards merged")
    with h5py.File(os.path.join(w, "s1.h5")) as f1, h5py.File(os.path.join(w, "slurm1.h5")) as f2:
        check(list(f1["runs"]["run_index"]) == [1, 3, 5, 7, 9, 11], "shard 1/2 takes every other run")
        check(np.array_equal(f1["runs"]["run_index"], f2["runs"]["run_index"]), "Slurm array task = --shard")
    bad = run(c, ["merge", "bad.h5", "s0.h5", "s0.h5"], w)
    check(bad.returncode != 0 and "s0.h5" in bad.stderr, f"merge refuses duplicate runs: {bad.stderr.strip()}")

    # Resume of a finished file: nothing to do, nothing changed.
    r = run(c, ["run", "exp.toml", "-o", "t1.h5", "--resume"], w)
    check(r.returncode == 0 and "12 already done" in r.stderr, f"resume of a finished file: {r.stderr.strip()}")
    same(ref, table(os.path.join(w, "t1.h5")), "finished file unchanged by --resume")

    # SIGINT: partial runs, exit 130, the message says how to resume; resume completes it identically.
    long_ref = os.path.join(w, "long_ref.h5")
    t = time.time()
    r = run(c, ["run", "long.toml", "-o", "long_ref.h5", "--threads", "2", "--quiet"], w)
    long_seconds = time.time() - t
    check(r.returncode == 0, f"long reference run: {r.stderr}")
    for sig, name in [(signal.SIGINT, "sigint"), (signal.SIGKILL, "kill9")]:
        p = subprocess.Popen([c, "run", "long.toml", "-o", f"{name}.h5", "--threads", "2"], cwd=w,
                             stderr=subprocess.PIPE, text=True)
        time.sleep(0.4 * long_seconds)  # well inside the sweep, after its first runs are written
        p.send_signal(sig)
        _, err = p.communicate(timeout=60)
        with h5py.File(os.path.join(w, f"{name}.h5")) as f:
            st = [s.rstrip(b"\0") for s in f["runs"]["status"]]
            check(st.count(b"done") < 12, f"{name} landed mid-sweep ({len(st)} rows: {st})")
        if sig == signal.SIGINT:
            check(p.returncode == 130, f"SIGINT exit code 130, got {p.returncode}")
            check("--resume" in err and "interrupted" in err, f"SIGINT message: {err.strip()[-300:]}")
        r = run(c, ["run", "long.toml", "-o", f"{name}.h5", "--threads", "2", "--resume", "--quiet"], w)
        check(r.returncode == 0, f"resume after {name}: {r.stderr.strip()}")
        same(table(long_ref), table(os.path.join(w, f"{name}.h5")), f"resumed after {name}")

    # Bad input matrix.
    with open(os.path.join(w, "other.toml"), "w") as f:
        f.write(EXP.format(generations=6, n=151))
    r = run(c, ["run", "other.toml", "-o", "t1.h5", "--resume"], w)
    check(r.returncode != 0 and "another experiment" in r.stderr, f"resume of another experiment's file: {r.stderr.strip()}")
    with open(os.path.join(w, "t1.h5"), "rb") as f:
        data = f.read()
    with open(os.path.join(w, "trunc.h5"), "wb") as f:
        f.write(data[: len(data) // 2])
    r = run(c, ["run", "exp.toml", "-o", "trunc.h5", "--resume"], w)
    check(r.returncode != 0 and "trunc.h5" in r.stderr, f"truncated file: {r.stderr.strip()}")
    with open(os.path.join(w, "trunc.h5"), "rb") as f:
        check(f.read() == data[: len(data) // 2], "a refused resume leaves the file untouched")
    r = run(c, ["run", "exp.toml", "-o", "missing.h5", "--resume"], w)
    check(r.returncode != 0 and "missing.h5" in r.stderr, f"resume of a missing file: {r.stderr.strip()}")
    r = run(c, ["run", "exp.toml", "-o", "exp.toml/out.h5"], w)
    check(r.returncode != 0 and "exp.toml" in r.stderr, f"unwritable output directory: {r.stderr.strip()}")
    r = run(c, ["run", "exp.toml", "-o", "x.h5", "--shard", "2/2"], w)
    check(r.returncode != 0 and "--shard = \"2/2\", but must be i/N with 0 ≤ i < N" in r.stderr,
          f"bad shard: {r.stderr.strip()}")
    r = run(c, ["validate", "exp.toml"], w)
    check(r.returncode == 0 and "12 runs" in r.stdout and "MB" in r.stdout, f"validate: {r.stdout[:200]}")

    return finish("sweeps")


if __name__ == "__main__":
    sys.exit(main())
