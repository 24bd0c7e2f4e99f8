"""Every stop stops: a real ``translator serve`` process with its recognition stuck, or its event
loop blocked, ends within the bound on SIGINT, SIGTERM or SIGHUP; a second signal ends it at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.live import free_port
from translator.server.loop_watch import BLOCKED_S
from translator.server.stopping import STOP_BOUND_S

# Starting the offline models on a busy machine, then the first utterance.
FAULT_WITHIN_S = 60
# Beyond the bound: the interpreter's own exit, on a busy machine.
MARGIN_S = 3


class Served:
    def __init__(self, talk: Path, tmp_path: Path, fault: str) -> None:
        port = free_port()
        self.tmp = tmp_path
        with (tmp_path / "stderr").open("wb") as stderr:
            self.process = self._start(talk, port, stderr, tmp_path, fault)

    @staticmethod
    def _start(talk: Path, port: int, stderr, tmp_path: Path, fault: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "harness.faulty_server", fault, "--input", str(talk), "--loop"]
            + ["--port", str(port), "--target", "es"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            # The HLS folder is made under TMPDIR: whether a stop removes it shows there.
            env=os.environ | {"TMPDIR": str(tmp_path), "TRANSLATOR_OPERATOR_TOKEN": "x" * 24},
        )

    def wait_for_fault(self) -> None:
        assert self.process.stdout is not None
        deadline = time.monotonic() + FAULT_WITHIN_S
        for line in self.process.stdout:
            if line.startswith("fault:"):
                return
            assert time.monotonic() < deadline, "the fault did not strike"
        raise AssertionError(f"the server ended first: {self.stderr}")

    def stop(self, number: int) -> tuple[int, float]:
        """Send ``number``; the exit status and the seconds it took."""
        began = time.monotonic()
        self.process.send_signal(number)
        try:
            code = self.process.wait(STOP_BOUND_S + MARGIN_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"still running {STOP_BOUND_S + MARGIN_S} s after {number!r}") from None
        return code, time.monotonic() - began

    def wait_for_log(self, text: str, within_s: float = 5) -> None:
        deadline = time.monotonic() + within_s
        while text not in self.stderr:
            assert time.monotonic() < deadline, f"not logged within {within_s} s: {text}"
            time.sleep(0.1)

    @property
    def stderr(self) -> str:
        return (self.tmp / "stderr").read_text()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def served(talk: Path, tmp_path: Path, request: pytest.FixtureRequest):
    server = Served(talk, tmp_path, request.param)
    yield server
    server.close()


@pytest.mark.parametrize("served", ["--stuck-recognition"], indirect=True)
@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGHUP])
def test_a_stuck_engine_thread_does_not_hold_up_a_stop(served: Served, number: signal.Signals) -> None:
    served.wait_for_fault()
    code, took = served.stop(number)
    assert code == 0, served.stderr
    assert took < STOP_BOUND_S
    assert "Traceback" not in served.stderr
    assert f"stopping: {number.name} received" in served.stderr
    assert "abandoning threads that did not finish: asr" in served.stderr
    assert not list(served.tmp.glob("translator-hls-*")), "the HLS folder is removed"


@pytest.mark.parametrize("served", ["--blocked-loop"], indirect=True)
def test_a_blocked_loop_is_reported_with_its_stacks_and_stopped_at_the_bound(served: Served) -> None:
    served.wait_for_fault()
    served.wait_for_log("the event loop has not run for", within_s=BLOCKED_S + 10)
    assert "in send_audio" in served.stderr, "the stacks show where the loop is stuck"
    code, took = served.stop(signal.SIGTERM)
    assert code == 1
    assert took >= STOP_BOUND_S - 0.5
    assert f"did not stop within {STOP_BOUND_S:.0f} s" in served.stderr


@pytest.mark.parametrize("served", ["--blocked-loop"], indirect=True)
def test_a_second_signal_exits_at_once(served: Served) -> None:
    served.wait_for_fault()
    served.process.send_signal(signal.SIGINT)
    served.wait_for_log("stopping: SIGINT received")
    code, took = served.stop(signal.SIGINT)
    assert code == 128 + signal.SIGINT
    assert took < 2
    assert "SIGINT received again: exiting now" in served.stderr
