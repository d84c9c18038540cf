#!/usr/bin/env bash
# Runs one libFuzzer binary on a copy of its seed corpus (the seeds are never modified).
#   fuzz/run_fuzzer.sh FUZZER SEED_DIR WORK_DIR [libFuzzer flags...]
# WORK_DIR/corpus receives the seeds plus every new input the run finds; WORK_DIR/ holds crash-*,
# timeout-*, oom-* artifacts and fuzz.log. Exit status: the fuzzer's (0 = no finding).
set -euo pipefail
fuzzer="$1" seeds="$2" work="$3"
shift 3
mkdir -p "${work}/corpus"
cp -r "${seeds}/." "${work}/corpus/"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:print_stacktrace=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
status=0
"${fuzzer}" "${work}/corpus" -artifact_prefix="${work}/" -print_final_stats=1 "$@" 2>"${work}/fuzz.log" || status=$?
tail -n 40 "${work}/fuzz.log"
if ((status != 0)); then
  echo "run_fuzzer: $(basename "${fuzzer}") found a problem (exit ${status}); artifacts in ${work}/" >&2
  ls -1 "${work}" | grep -E '^(crash|timeout|oom|leak|slow-unit)-' >&2 || true
fi
exit "${status}"
