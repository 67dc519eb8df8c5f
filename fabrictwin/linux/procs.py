"""Child processes: dying with the parent, stopping them, and free loopback ports."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import subprocess

PR_SET_PDEATHSIG = 1
PR_SET_TIMERSLACK = 29


def die_with_parent(*, short_timers: bool = False) -> None:
    """Ask the kernel to SIGTERM this process when whoever started it dies, so a
    killed run leaves no helper behind. ``short_timers`` drops the timer slack from
    50 us to 1 ns: short sleeps (token buckets, delay lines) stay short.

    Without Linux's libc this does nothing: the run's own clean-up still stops us.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if short_timers:
            libc.prctl(PR_SET_TIMERSLACK, 1)


def stop_process(proc: subprocess.Popen, timeout_s: float = 5.0,
                 sig: int = signal.SIGTERM) -> int | None:
    """Send ``sig`` (SIGTERM) to ``proc``, wait ``timeout_s``, then SIGKILL; its exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return proc.returncode


def stop_all(procs: list[subprocess.Popen], timeout_s: float = 3.0) -> None:
    """:func:`stop_process` for many: all are asked to stop before any is waited for."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        stop_process(proc, timeout_s)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the caller binds it next)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
