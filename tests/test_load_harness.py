"""The load harness's own book-keeping: CPU the stack's processes burn is theirs, not other programs'."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.stack import CpuReading, machine_busy_s, process_tree_cpu_s

BURN = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end:\n    pass\n"


def test_a_child_burning_cpu_counts_as_ours_while_it_runs_and_once_reaped():
    ours = {os.getpid()}
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    burner = subprocess.Popen([sys.executable, "-c", BURN])
    try:
        before = process_tree_cpu_s(ours)
        time.sleep(0.1)
        assert process_tree_cpu_s(ours) >= before  # a sleeping child adds nothing, and nothing is lost
        burner.wait(timeout=30)  # reaped: its half second is now in our children's time
        assert process_tree_cpu_s(ours) - before >= 0.4
    finally:
        child.kill()
        child.wait()


def test_other_programs_are_the_machines_busy_time_less_ours():
    earlier = CpuReading(at=100.0, busy_s=50.0, ours_s=10.0)
    later = CpuReading(at=102.0, busy_s=53.0, ours_s=11.0)  # 3 s busy in 2 s, 1 s of it ours
    assert later.others_since(earlier) == 1.0
    assert CpuReading(at=102.0, busy_s=50.5, ours_s=11.0).others_since(earlier) == 0.0  # never below nothing
    assert machine_busy_s() > 0
