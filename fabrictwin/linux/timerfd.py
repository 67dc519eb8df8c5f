"""A CLOCK_MONOTONIC timer as a file descriptor (timerfd), for event loops that must
wake at a precise instant: epoll's own timeout counts whole milliseconds.

Python gains ``os.timerfd_create`` only in 3.13; this calls libc directly.
"""

from __future__ import annotations

import contextlib
import ctypes
import os

CLOCK_MONOTONIC = 1
TFD_NONBLOCK = 0o4000
TFD_CLOEXEC = 0o2000000
TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


_libc = ctypes.CDLL(None, use_errno=True)


class MonotonicTimer:
    """One-shot timer on ``time.monotonic_ns()``'s clock; readable once it has fired."""

    def __init__(self) -> None:
        fd = _libc.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"timerfd_create: {os.strerror(err)}")
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def set(self, at_ns: int) -> None:
        """Fire at monotonic time ``at_ns`` (at once if that has passed)."""
        at_ns = max(1, at_ns)  # 0 would disarm it
        spec = _Itimerspec(_Timespec(0, 0), _Timespec(at_ns // 1_000_000_000,
                                                      at_ns % 1_000_000_000))
        if _libc.timerfd_settime(self.fd, TFD_TIMER_ABSTIME, ctypes.byref(spec), None) < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"timerfd_settime: {os.strerror(err)}")

    def clear(self) -> None:
        """Consume a firing, so the descriptor is no longer readable."""
        with contextlib.suppress(BlockingIOError):
            os.read(self.fd, 8)

    def close(self) -> None:
        os.close(self.fd)
