#!/usr/bin/env bash
# The unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (CMake option COLLAPSE_SANITIZE):
# any memory error, leak or undefined behaviour fails the test that triggers it.
#   scripts/test_sanitized.sh            # build-asan/ (GCC), then ctest -L unit
# Extra arguments go to ctest (e.g. -R unit.models). Set ASAN_OPTIONS / UBSAN_OPTIONS to override.
#
# Build flags: RelWithDebInfo with -O1 -g1 instead of -O2 -g -DNDEBUG: it compiles in about half the
# time (≈2 min on 2 cores, the unit tests then take ≈15 s), and without NDEBUG Eigen's index
# assertions are on; -D_GLIBCXX_ASSERTIONS adds libstdc++'s bounds checks (vector[], span, ...),
# which also catch out-of-range accesses that stay inside a vector's capacity, where ASan cannot.
# All unit tests run (no subset needed). The integration and slow tests pass under this build too
# (ctest --test-dir build-asan -L 'integration|slow', ≈50 s) but are left out to keep CI short.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
start=${SECONDS}
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOLLAPSE_SANITIZE=ON \
      -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -D_GLIBCXX_ASSERTIONS" >/dev/null
cmake --build build-asan -j"$(nproc)"
built=${SECONDS}

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0:print_stacktrace=1:strict_init_order=1:check_initialization_order=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
ctest --test-dir build-asan -L unit --output-on-failure -j"$(nproc)" "$@"
echo "test_sanitized: build $((built - start)) s, unit tests $((SECONDS - built)) s"
