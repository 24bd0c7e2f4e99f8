"""CPU time by part, read from the operating system's own counts while real threads and processes work."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from translator.cpu_use import CpuMeter, Part, claim

WORK_S = 0.5
TICK_S = 1 / os.sysconf("SC_CLK_TCK")
RESOLUTION_S = 4 * TICK_S
"""The kernel counts CPU time in clock ticks, and a part is the difference of counters each cut to
a tick (the process's user and system time, less its threads'): what a reading may be off by. A
margin of a fraction of the work instead (it was 10 % of 0.3 s) was crossed by 0.27 vs 0.2700004."""


def busy(seconds: float) -> float:
    """Spin for ``seconds`` of this thread's CPU; the CPU time it took."""
    began = time.thread_time()
    while time.thread_time() - began < seconds:
        pass
    return time.thread_time() - began


def test_a_claimed_thread_counts_under_its_part_also_after_it_ended() -> None:
    meter = CpuMeter()
    before = meter.read().seconds
    with ThreadPoolExecutor(1, initializer=claim, initargs=(Part.OUTPUTS,)) as outputs:
        spent = outputs.submit(busy, WORK_S).result()
        during = meter.read().seconds
    after = meter.read().seconds  # the thread has ended: its time stays counted
    assert during[Part.OUTPUTS] - before[Part.OUTPUTS] >= spent - RESOLUTION_S
    assert after[Part.OUTPUTS] >= during[Part.OUTPUTS]
    assert after[Part.ENGINE] == before[Part.ENGINE]


def test_the_meters_thread_is_the_event_loop_and_the_rest_is_other() -> None:
    meter = CpuMeter()
    before = meter.read().seconds
    spent = busy(WORK_S)
    result: list[float] = []
    worker = threading.Thread(target=lambda: result.append(busy(WORK_S)))
    worker.start()
    worker.join()
    after = meter.read().seconds
    assert after[Part.EVENT_LOOP] - before[Part.EVENT_LOOP] >= spent - RESOLUTION_S
    assert after[Part.OTHER] - before[Part.OTHER] >= result[0] - RESOLUTION_S, (before, after)


def test_child_processes_count_while_running_and_once_waited_for() -> None:
    meter = CpuMeter()
    before = meter.read().seconds[Part.CHILDREN]
    spin = (
        f"import time\nt = time.process_time()\nwhile time.process_time() - t < {WORK_S}: pass\nprint('done')"
    )
    with subprocess.Popen(["python3", "-c", spin], stdout=subprocess.PIPE) as child:
        assert child.stdout is not None and child.stdout.readline() == b"done\n"
        running = meter.read().seconds[Part.CHILDREN]
    waited = meter.read().seconds[Part.CHILDREN]
    assert running - before >= WORK_S - RESOLUTION_S
    assert waited >= running - 0.01
