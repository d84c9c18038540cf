"""Shared helpers of the Python integration tests: soft checks that collect failures, and running the binary."""
import subprocess

FAILURES = []


def check(cond, what):
    """Records a failed check (and prints it) without stopping the test, so one run shows every failure."""
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what)


def run(collapse, args, cwd, **kw):
    """Runs the collapse binary with `args` in `cwd`; returns the CompletedProcess (text stdout/stderr)."""
    return subprocess.run([collapse] + args, cwd=cwd, capture_output=True, text=True, **kw)


def finish(name):
    """Exit code of a test script: 0 if every check passed."""
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        return 1
    print(f"{name}: all checks passed")
    return 0
