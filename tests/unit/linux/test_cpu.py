"""CpuWatch names the process that held a core."""

import os
import subprocess
import sys
import time

from fabrictwin.linux.cpu import CpuWatch, _read_procs, hottest_process


def test_read_procs_sees_this_process_and_its_cpu_time():
    before = _read_procs()
    end = time.process_time() + 0.3
    while time.process_time() < end:  # burn 0.3 s of CPU
        pass
    after = _read_procs()
    comm, ticks = after[os.getpid()]
    assert comm == before[os.getpid()][0]
    assert ticks - before[os.getpid()][1] >= 0.2 * os.sysconf("SC_CLK_TCK")


def test_a_busy_process_is_named_as_the_hottest(tmp_path):
    # a child burns a core (a busy thread here would starve the watch of the GIL)
    busy = tmp_path / "busy-loop"
    busy.symlink_to(sys.executable)
    child = subprocess.Popen([str(busy), "-c", "while True: pass"])
    try:
        with CpuWatch(interval_s=0.1) as w:
            time.sleep(0.8)
    finally:
        child.kill()
        child.wait()
    # the child's comm is its file name
    names = [n for n, _ in w.hogs]
    assert names and names.count("busy-loop") >= len(names) // 2
    assert max(c for n, c in w.hogs if n == "busy-loop") > 0.5


def test_limit_is_none_unless_cpu_bound():
    assert CpuWatch(hottest=[0.2, 0.3], hogs=[("a", 0.2), ("a", 0.3)]).limit() is None
    assert hottest_process({}, {1: ("x", 5)}, 1.0) == ("", 0.0)  # new process: no baseline
