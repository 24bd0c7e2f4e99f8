"""The offline engine's deadlock, reproduced: two rooms' recognitions in numpy, sentences spoken and
Apertium stages restarted from the uvloop event loop, a CPU hog beside them. Before the fix about
half of such runs hung for good; each run here must end, having spoken sentence after sentence."""

from __future__ import annotations

import subprocess
import sys

import pytest

STARTS = 3
STORM_S = 6
BOUND_S = 60


@pytest.mark.alone
def test_many_starts_under_load_never_hang() -> None:
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        for start in range(STARTS):
            try:
                run = subprocess.run(
                    [sys.executable, "-m", "harness.fork_storm", "--seconds", str(STORM_S)],
                    capture_output=True,
                    text=True,
                    timeout=BOUND_S,
                )
            except subprocess.TimeoutExpired:
                raise AssertionError(f"start {start + 1} of {STARTS} hung") from None
            assert run.returncode == 0, run.stderr
            spoken = int(run.stdout.split()[-1])
            assert spoken >= 10, f"start {start + 1}: only {spoken} sentences spoken in {STORM_S} s"
    finally:
        hog.kill()
        hog.wait()
