#!/usr/bin/env bash
# Runs the paper reproductions: experiments/<name>.toml → results/<name>.h5, then executes
# notebooks/<name>.ipynb against it → results/<name>.html (nbconvert --execute).
#
# Usage: scripts/reproduce.sh [--threads N] [--skip-run] [NAME ...]
#   NAME       one or more of the reproductions below (default: all of them)
#   --threads  passed to `collapse run` (default: all cores)
#   --skip-run only re-render the notebooks from existing results files
# Environment: COLLAPSE_BIN (default build/collapse), PYTHON (default /usr/bin/python3).
# Prints the wall time of every run; see notebooks/README.md for what each reproduction shows.
set -euo pipefail

ALL=(gaussian_mle_refit shumailov_gmm2d gerstgrasser_accumulate mixing_fraction wright_fisher shumailov_brown
     dohmatob_tail)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${COLLAPSE_BIN:-$ROOT/build/collapse}"
PY="${PYTHON:-/usr/bin/python3}"
THREADS=()
SKIP_RUN=0
NAMES=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) THREADS=(--threads "$2"); shift 2 ;;
    --skip-run) SKIP_RUN=1; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    -*) echo "reproduce.sh: unknown option $1" >&2; exit 2 ;;
    *) NAMES+=("$1"); shift ;;
  esac
done
[[ ${#NAMES[@]} -gt 0 ]] || NAMES=("${ALL[@]}")
for n in "${NAMES[@]}"; do
  [[ -f "$ROOT/experiments/$n.toml" && -f "$ROOT/notebooks/$n.ipynb" ]] ||
    { echo "reproduce.sh: unknown reproduction '$n'; known: ${ALL[*]}" >&2; exit 2; }
done
[[ $SKIP_RUN -eq 1 || -x "$BIN" ]] || { echo "reproduce.sh: no binary at $BIN (build first, or set COLLAPSE_BIN)" >&2; exit 2; }

mkdir -p "$ROOT/results"
for n in "${NAMES[@]}"; do
  out="$ROOT/results/$n.h5"
  if [[ $n == shumailov_brown && ! -f "$ROOT/data/brown/train.txt" ]]; then
    echo "== $n: skipped, data/brown is missing (run scripts/setup.sh or scripts/fetch_brown.sh)"; continue
  fi
  if [[ $SKIP_RUN -eq 0 ]]; then
    echo "== $n: collapse run experiments/$n.toml -o results/$n.h5 ${THREADS[*]}"
    start=$EPOCHREALTIME
    # exit code 1: some runs failed (their events are in the file); the notebook still renders the rest
    rc=0; "$BIN" run "$ROOT/experiments/$n.toml" -o "$out" "${THREADS[@]}" --quiet || rc=$?
    [[ $rc -le 1 ]] || { echo "reproduce.sh: collapse run failed for $n (exit code $rc)" >&2; exit $rc; }
    [[ $rc -eq 0 ]] || echo "   note: some runs of $n failed; see: $BIN info $out"
    end=$EPOCHREALTIME
    awk -v a="$start" -v b="$end" 'BEGIN { printf "   run: %.1f s\n", b - a }'
  fi
  echo "== $n: notebooks/$n.ipynb → results/$n.html"
  COLLAPSE_RESULTS="$out" PYDEVD_DISABLE_FILE_VALIDATION=1 "$PY" -Xfrozen_modules=off -m nbconvert --to html --execute --log-level WARN \
    --ExecutePreprocessor.timeout=600 --output-dir "$ROOT/results" --output "$n" "$ROOT/notebooks/$n.ipynb"
done
