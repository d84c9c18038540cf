#!/usr/bin/env python3
"""The recursive loop on Brown in plain Python versus collapse (Google Benchmark), and their ratio.

Loop (both implementations): gen 0 = the first whole sentences of data/brown/train.txt until >= 200 000
tokens; then 3 times: fit a bigram MLE model (sentences padded with BOS, ended with EOS), sample
200 000 tokens of whole sentences (the last one cut at the budget; empty sentences discarded; max 200
tokens a sentence) which become the next training set. Corpus loading (reading, word -> id) is excluded
from both timings.

Python side: collections.Counter over (context, next) pairs for counting; per context a cumulative count
array (numpy) searched with numpy.searchsorted on uniforms drawn in bulk (numpy.random.Generator), so
the per-token work is one Python loop iteration with one searchsorted call.
collapse side: BM_RecursiveLoop_Brown_Bigram_200k_3gens of bench/bench_ngram_model.cpp, read with
--benchmark_format=json.

Both sides are timed in CPU time of the process (Python: time.process_time; collapse: the benchmark's
cpu_time), the minimum over --repeats runs, so that a machine shared with other jobs does not distort the
ratio; wall-clock figures are printed too.

Usage: scripts/bench_vs_python.py [--bench build/bench/bench_ngram_model] [--data data/brown/train.txt]
                                  [--repeats 5]
"""
import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter

import numpy as np

TOKENS_PER_GENERATION = 200_000
GENERATIONS = 3
MAX_LENGTH = 200


def load_gen0(path):
    """Whole sentences from the start of the file until >= 200k tokens, as lists of int ids."""
    vocab = {}
    sentences = []
    total = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if total >= TOKENS_PER_GENERATION:
                break
            ids = [vocab.setdefault(w, len(vocab)) for w in line.split()]
            sentences.append(ids)
            total += len(ids)
    return sentences, len(vocab)


def fit(sentences, bos, eos):
    """Bigram MLE: {context: (next tokens array, cumulative counts array)}."""
    counts = Counter()
    for s in sentences:
        prev = bos
        for w in s:
            counts[(prev, w)] += 1
            prev = w
        counts[(prev, eos)] += 1
    by_context = {}
    for (h, w), c in counts.items():
        by_context.setdefault(h, ([], []))
        by_context[h][0].append(w)
        by_context[h][1].append(c)
    model = {}
    for h, (ws, cs) in by_context.items():
        model[h] = (np.array(ws, dtype=np.int64), np.cumsum(np.array(cs, dtype=np.float64)))
    return model


def sample(model, n_tokens, bos, eos, rng):
    """Exactly n_tokens tokens of sentences; EOS at a sentence start gives an (discarded) empty sentence."""
    out = []
    current = []
    h = bos
    produced = 0
    uniforms = rng.random(n_tokens + 1024)
    ui = 0
    while produced < n_tokens:
        if ui == len(uniforms):
            uniforms = rng.random(n_tokens)
            ui = 0
        ws, cum = model[h]
        w = int(ws[np.searchsorted(cum, uniforms[ui] * cum[-1], side="right")])
        ui += 1
        if w == eos:
            if current:
                out.append(current)
                current = []
            h = bos
            continue
        current.append(w)
        produced += 1
        if len(current) == MAX_LENGTH:
            out.append(current)
            current = []
            h = bos
        else:
            h = w
    if current:
        out.append(current)
    return out


def python_loop(gen0, v, seed):
    bos, eos = v + 1, v
    rng = np.random.default_rng(seed)
    pool = gen0
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in range(GENERATIONS):
        model = fit(pool, bos, eos)
        pool = sample(model, TOKENS_PER_GENERATION, bos, eos, rng)
    elapsed, elapsed_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    assert sum(len(s) for s in pool) == TOKENS_PER_GENERATION
    return elapsed, elapsed_cpu


def collapse_loop(bench, repeats):
    """(min real time, min cpu time) over `repeats` repetitions of the benchmark, in seconds."""
    out = subprocess.run(
        [bench, "--benchmark_format=json", "--benchmark_filter=BM_RecursiveLoop_Brown_Bigram_200k_3gens$",
         f"--benchmark_repetitions={repeats}"],
        check=True, capture_output=True, text=True).stdout
    runs = json.loads(out)["benchmarks"]
    for r in runs:
        if r.get("error_occurred"):
            sys.exit("benchmark error: " + r.get("error_message", "?"))
    runs = [r for r in runs if r.get("run_type", "iteration") == "iteration"]
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[runs[0]["time_unit"]]
    return min(r["real_time"] for r in runs) * scale, min(r["cpu_time"] for r in runs) * scale


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=os.path.join(root, "build/bench/bench_ngram_model"))
    ap.add_argument("--data", default=os.path.join(root, "data/brown/train.txt"))
    ap.add_argument("--repeats", type=int, default=5,
                    help="runs of each side (the minimum is reported)")
    args = ap.parse_args()

    gen0, v = load_gen0(args.data)
    print(f"gen 0: {len(gen0)} sentences, {sum(len(s) for s in gen0)} tokens, {v} types")
    runs = [python_loop(gen0, v, seed) for seed in range(args.repeats)]
    py_real, py_cpu = min(r[0] for r in runs), min(r[1] for r in runs)
    c_real, c_cpu = collapse_loop(args.bench, args.repeats)
    print(f"python   : {py_real:.3f} s real, {py_cpu:.3f} s cpu  (min of {args.repeats})")
    print(f"collapse : {c_real * 1e3:.2f} ms real, {c_cpu * 1e3:.2f} ms cpu  (min of {args.repeats})")
    print(f"ratio    : {py_cpu / c_cpu:.0f}x (cpu / cpu), {py_real / c_real:.0f}x (real / real)")


if __name__ == "__main__":
    main()
