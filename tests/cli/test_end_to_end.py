#!/usr/bin/python3
"""End-to-end test: run the `collapse` binary on tiny experiments and read the HDF5 back with h5py.

Checks the schema v1 layout (DESIGN.md §4 / README), values that are known exactly (provenance
metrics, generation-0 real fraction), bit-identical metrics across thread counts, and that bad input
fails with one clear message and leaves no results file behind.
Run by ctest (label: integration); needs Debian's python3-h5py and numpy.
"""
import argparse
import os
import shutil
import sys

import h5py
import numpy as np

from checks import check, finish, run


GMM = """
[experiment]
name = "tiny_gmm"
generations = 4
replicates = 3
seed = 11

[truth]
kind = "gaussian_mixture"
weights = [0.5, 0.5]
means = [[-2.0, 0.0], [2.0, 1.0]]
covariances = [[[1.0, 0.2], [0.2, 1.0]], [[0.5, 0.0], [0.0, 0.5]]]
heldout_samples = 500

[model]
kind = "gaussian_mixture"
components = 2

[loop]
samples_per_generation = 200
anchoring = "replace"
real_fraction = 0.25

[sweep]
"loop.anchoring" = ["replace", "mix"]
"""

TEXT = """
[experiment]
name = "tiny_text"
generations = 3
replicates = 2
seed = 3

[truth]
kind = "text_corpus"
train = "train.txt"
heldout = "heldout.txt"

[model]
kind = "ngram"
order = 2

[loop]
samples_per_generation = 300
anchoring = "mix"
real_fraction = 0.5
"""

TRAIN = """the cat sat on the mat
the dog sat on the log
a cat saw a dog
the bird flew over the house
a dog ran to the cat
the cat ran to the house
a bird sat on a log
"""
HELDOUT = """the cat sat on a log
the zebra ran
"""



def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--collapse", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--work-dir", required=True)
    a = ap.parse_args()
    w = a.work_dir
    shutil.rmtree(w, ignore_errors=True)
    os.makedirs(w)
    for name, text in [("gmm.toml", GMM), ("text.toml", TEXT), ("train.txt", TRAIN * 20), ("heldout.txt", HELDOUT)]:
        with open(os.path.join(w, name), "w") as f:
            f.write(text)

    # --- GMM: schema and exact values -------------------------------------------------------------
    r = run(a.collapse, ["run", "gmm.toml", "-o", "out/gmm1.h5", "--threads", "1", "--quiet"], w)
    check(r.returncode == 0, f"gmm run exit code {r.returncode}: {r.stderr}")
    r2 = run(a.collapse, ["run", "gmm.toml", "-o", "out/gmm2.h5", "--threads", "2", "--quiet"], w)
    check(r2.returncode == 0, f"gmm run (2 threads) exit code {r2.returncode}: {r2.stderr}")
    with h5py.File(os.path.join(w, "out/gmm1.h5"), "r") as f, h5py.File(os.path.join(w, "out/gmm2.h5"), "r") as g:
        for attr in ["schema_version", "software_version", "git_sha", "created_utc", "command_line", "experiment",
                     "boost_version", "hdf5_version"]:
            check(attr in f.attrs, f"root attribute {attr}")
        check(int(f.attrs["schema_version"]) == 1, "schema_version == 1")
        check("name = \"tiny_gmm\"" in f.attrs["experiment"], "experiment text stored")
        runs = f["runs"][:]
        names = runs.dtype.names
        for col in ["run_index", "run_key", "replicate", "seed", "status", "wall_seconds", "loop.anchoring"]:
            check(col in names, f"/runs column {col}")
        check(len(runs) == 6, f"6 runs, got {len(runs)}")
        check(list(runs["run_index"]) == list(range(6)), "rows in run_index order")
        check(all(s.rstrip(b"\0") == b"done" for s in runs["status"]), "all runs done")
        anch = [x.decode() if isinstance(x, bytes) else x for x in runs["loop.anchoring"]]
        check(anch == ["replace"] * 3 + ["mix"] * 3, f"anchoring column {anch}")
        check(len(set(runs["seed"])) == 6, "distinct seeds")
        check(len(f["runs_config"]) == 6, "runs_config rows")
        cfg0 = f["runs_config"][0]
        cfg0 = cfg0.decode() if isinstance(cfg0, bytes) else cfg0
        check("anchoring = \"replace\"" in cfg0, "runs_config holds the expanded TOML")
        for m in ["heldout_log_likelihood", "total_variance", "tail_mass", "real_fraction", "synthetic_age"]:
            check(m in f["metrics"], f"metric {m}")
            if m in f["metrics"]:
                d = f["metrics"][m]
                check(d.shape == (6, 5), f"{m} shape {d.shape}")
                check(len(d.attrs["units"]) > 0 and len(d.attrs["description"]) > 10, f"{m} attrs")
        rf = f["metrics/real_fraction"][:]
        check(np.all(rf[:, 0] == 1.0), "generation 0 is all real")
        check(np.all(rf[:3, 1:] == 0.0), "replace: no real data after generation 0")
        check(np.all(rf[3:, 1:] == 0.25), "mix: 25 % real")
        age = f["metrics/synthetic_age"][:]
        check(np.all(np.isnan(age[:, 0])) and np.all(age[:, 1:] == 1.0), "synthetic age 1 under replace and mix")
        tm = f["metrics/tail_mass"][:]
        check(np.all((tm >= 0) & (tm <= 1)), "tail mass in [0, 1]")
        check(abs(np.mean(tm[:, 0]) - 0.01) < 0.01, f"generation-0 tail mass near the truth's 0.01: {np.mean(tm[:, 0])}")
        wts = f["trajectories/gmm_weights"][:]
        check(wts.shape == (6, 5, 2), f"gmm_weights shape {wts.shape}")
        check(np.allclose(wts.sum(axis=2), 1.0), "weights sum to 1")
        check(f["trajectories/gmm_means"].shape == (6, 5, 2, 2), "gmm_means shape")
        check(f["trajectories/gmm_covariances"].shape == (6, 5, 2, 2, 2), "gmm_covariances shape")
        # Thread count does not change a single bit.
        for m in f["metrics"]:
            x, y = f["metrics"][m][:], g["metrics"][m][:]
            check(np.array_equal(x.view(np.uint64), y.view(np.uint64)), f"{m}: identical bits with 1 and 2 threads")
        check(np.array_equal(f["runs"]["seed"], g["runs"]["seed"]), "identical seeds with 1 and 2 threads")

    # --- n-gram: schema and exact values -----------------------------------------------------------
    r = run(a.collapse, ["run", "text.toml", "-o", "out/text.h5", "--quiet"], w)
    check(r.returncode == 0, f"text run exit code {r.returncode}: {r.stderr}")
    with h5py.File(os.path.join(w, "out/text.h5"), "r") as f:
        for m in ["distinct_types", "support_size", "unigram_entropy", "gini_simpson", "distinct_1", "distinct_2",
                  "perplexity", "heldout_oov_rate", "heldout_uncovered_rate", "missing_mass", "tail_mass"]:
            check(m in f["metrics"] and f["metrics"][m].shape == (2, 4), f"text metric {m}")
        rf = f["metrics/real_fraction"][:]
        check(np.all(rf[:, 1:] == 0.5), "text mix: half of the tokens real")
        oov = f["metrics/heldout_oov_rate"][:]
        # "zebra" is the only held-out word outside the training vocabulary: 1 of 9 held-out tokens.
        check(np.allclose(oov[:, 0], 1 / 9), f"held-out OOV rate 1/9 at generation 0: {oov[:, 0]}")
        st = f["metrics/support_size"][:]
        check(np.all(st <= 15), "support within the 15 training types")

    info = run(a.collapse, ["info", "out/text.h5"], w)
    check(info.returncode == 0 and "distinct_types" in info.stdout and "done" in info.stdout, "collapse info")

    # --- bad input: one clear message, exit code != 0, no results file ----------------------------
    bad = [
        ("real_fraction = 0.25", "real_fraction = 1.5", "loop.real_fraction = 1.5, but must be in [0, 1]"),
        ("components = 2", "componets = 2", "did you mean model.components?"),
        ("samples_per_generation = 200", "samples_per_generation = \"lots\"",
         "loop.samples_per_generation = \"lots\" is a string, but must be an integer"),
        ("kind = \"gaussian_mixture\"\nweights", "kind = \"gaussian\"\nweights",
         "truth.kind = \"gaussian\", but must be one of: gaussian_mixture | csv | text_corpus"),
    ]
    for i, (old, new, expected) in enumerate(bad):
        path = os.path.join(w, f"bad{i}.toml")
        with open(path, "w") as f:
            f.write(GMM.replace(old, new, 1))
        out = f"out/bad{i}.h5"
        r = run(a.collapse, ["run", f"bad{i}.toml", "-o", out], w)
        check(r.returncode != 0, f"bad input {i} exits non-zero")
        check(expected in r.stderr and f"bad{i}.toml" in r.stderr, f"bad input {i} message: {r.stderr.strip()}")
        check(r.stderr.strip().count("\n") == 0, f"bad input {i}: one line, got {r.stderr!r}")
        check(not os.path.exists(os.path.join(w, out)), f"bad input {i} leaves no results file")
    with open(os.path.join(w, "empty.txt"), "w") as f:
        f.write("\n")
    with open(os.path.join(w, "empty.toml"), "w") as f:
        f.write(TEXT.replace("train.txt", "empty.txt"))
    r = run(a.collapse, ["run", "empty.toml", "-o", "out/empty.h5"], w)
    check(r.returncode != 0 and "truth.train" in r.stderr and "the corpus is empty" in r.stderr,
          f"empty corpus message: {r.stderr.strip()}")
    check(not os.path.exists(os.path.join(w, "out/empty.h5")), "empty corpus leaves no results file")
    with open(os.path.join(w, "missing.toml"), "w") as f:
        f.write(TEXT.replace("train.txt", "no/such/file.txt"))
    r = run(a.collapse, ["run", "missing.toml", "-o", "out/missing.h5"], w)
    check(r.returncode != 0 and "no/such/file.txt" in r.stderr and "cannot open file" in r.stderr,
          f"missing data file message: {r.stderr.strip()}")

    # --- shipped experiments are valid --------------------------------------------------------------
    for exp in ["faithful_gmm.toml"]:
        r = run(a.collapse, ["validate", os.path.join(a.source_dir, "experiments", exp)], w)
        check(r.returncode == 0, f"experiments/{exp} validates: {r.stderr.strip()}")

    return finish("end-to-end")


if __name__ == "__main__":
    sys.exit(main())
