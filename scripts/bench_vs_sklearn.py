#!/usr/bin/env python3
"""Fits per second of a recursive Gaussian-mixture loop: scikit-learn vs collapse.

The workload (the model-collapse loop with anchoring = replace, no metrics): generation 0 fits n = 1000
draws of N(0, 1); every generation then fits a K = 2, d = 1 mixture (full covariance, tol 1e-3,
max_iter 100, reg_covar 1e-6, init kmeans — scikit-learn's defaults) and samples the next n = 1000
training points from it; 50 generations. "Fits per second" = generations per second, sampling included,
on both sides.

- scikit-learn: GaussianMixture(n_components=2, covariance_type='full', tol=1e-3, max_iter=100,
  reg_covar=1e-6, init_params='kmeans', random_state=g) in generation g.
- collapse: the Google Benchmark BM_RecursiveLoop_K2_d1_n1000_50gens of bench/bench_gaussian_mixture.cpp
  (same loop in C++), read with --benchmark_format=json.

Both run single-threaded: OMP/MKL/OpenBLAS thread counts are set to 1 before numpy is imported (a collapse
run is single-threaded, and scikit-learn's KMeans with an OpenMP pool is *much* slower on a busy machine;
pass --allow-threads to measure it anyway). Each side is repeated --repeats times; min and median are
reported, and the ratio of medians (wall-clock; CPU-time ratio also printed).

Usage: /usr/bin/python3 scripts/bench_vs_sklearn.py [--bench build/bench/bench_gaussian_mixture]
       [--repeats 7] [--allow-threads]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings

GENERATIONS = 50
N = 1000
BENCH_NAME = "BM_RecursiveLoop_K2_d1_n1000_50gens"


def parse_args():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bench", default=os.path.join(root, "build", "bench", "bench_gaussian_mixture"),
                   help="path to the bench_gaussian_mixture binary (default: %(default)s)")
    p.add_argument("--repeats", type=int, default=7, help="repetitions of each side (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of scikit-learn's generation-0 data")
    p.add_argument("--allow-threads", action="store_true",
                   help="do not force OMP/MKL/OpenBLAS to one thread for scikit-learn")
    return p.parse_args()


def sklearn_loop(seed):
    """One recursive run; returns (wall seconds, CPU seconds, mean EM iterations)."""
    import numpy as np
    from sklearn.mixture import GaussianMixture

    x = np.random.default_rng(seed).standard_normal((N, 1))
    iterations = []
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for g in range(GENERATIONS):
        gm = GaussianMixture(n_components=2, covariance_type="full", tol=1e-3, max_iter=100, reg_covar=1e-6,
                             init_params="kmeans", random_state=g)
        gm.fit(x)
        iterations.append(gm.n_iter_)
        x, _ = gm.sample(N)
    return time.perf_counter() - wall0, time.process_time() - cpu0, sum(iterations) / len(iterations)


def collapse_runs(bench, repeats):
    """Runs the C++ benchmark; returns per-repetition (wall seconds, CPU seconds) per loop and EM iterations."""
    cmd = [bench, f"--benchmark_filter=^{BENCH_NAME}$", "--benchmark_format=json",
           f"--benchmark_repetitions={repeats}", "--benchmark_min_time=0.5"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    runs, iterations = [], None
    for b in json.loads(out)["benchmarks"]:
        if b.get("run_type") != "iteration" or not b["name"].startswith(BENCH_NAME):
            continue
        unit = scale[b.get("time_unit", "ns")]
        runs.append((b["real_time"] * unit, b["cpu_time"] * unit))
        iterations = b.get("em_iterations", iterations)
    if not runs:
        sys.exit(f"no {BENCH_NAME} results in the output of {' '.join(cmd)}")
    return runs, iterations


def summary(label, runs, em_iterations):
    walls = [GENERATIONS / w for w, _ in runs]
    cpus = [GENERATIONS / c for _, c in runs]
    print(f"{label:12s} fits/s (wall): median {statistics.median(walls):12.1f}   best {max(walls):12.1f}   "
          f"| fits/s (CPU): median {statistics.median(cpus):12.1f}   | mean EM iterations {em_iterations:.2f}")
    return statistics.median(walls), max(walls), statistics.median(cpus)


def main():
    args = parse_args()
    if not args.allow_threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = "1"
    if not os.access(args.bench, os.X_OK):
        sys.exit(f"benchmark binary not found: {args.bench} (build the target bench_gaussian_mixture with "
                 "-DCOLLAPSE_BUILD_BENCH=ON, or pass --bench PATH)")
    warnings.filterwarnings("ignore")  # ConvergenceWarning of near-degenerate generations
    import sklearn

    print(f"recursive loop: K = 2, d = 1, n = {N}, {GENERATIONS} generations, tol 1e-3, max_iter 100, "
          f"reg_covar 1e-6, init kmeans; {args.repeats} repeats; scikit-learn {sklearn.__version__}"
          f"{'' if args.allow_threads else ', single-threaded'}")
    sklearn_loop(args.seed)  # warm-up: imports, OpenMP pool
    sk = [sklearn_loop(args.seed) for _ in range(args.repeats)]
    sk_med, sk_best, sk_cpu = summary("scikit-learn", [(w, c) for w, c, _ in sk], sk[0][2])
    runs, iterations = collapse_runs(args.bench, args.repeats)
    co_med, co_best, co_cpu = summary("collapse", runs, iterations or float("nan"))
    print(f"ratio collapse / scikit-learn: {co_med / sk_med:.1f}x (median wall), {co_best / sk_best:.1f}x "
          f"(best wall), {co_cpu / sk_cpu:.1f}x (median CPU)")


if __name__ == "__main__":
    main()
