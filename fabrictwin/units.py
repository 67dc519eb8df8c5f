"""Parse quantities with units: rates, latencies, sizes.

Rates are bits per second (``400G``, ``400Gbps``, ``900GB/s``, or a number of b/s),
latencies are nanoseconds (``100ns``, ``5us``, ``2ms``, or a number of ns). Sizes are
bytes as nccl-tests reads them: a bare prefix is binary (``-b 1M`` = 1,048,576), so
``64M`` = ``64MiB`` = 64 x 2**20, while ``64MB`` = 64e6 (SI, as vendors quote buffers and
HBM) and a number, ``1e6`` included, is bytes. Rates are always SI, as NIC vendors quote them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from fabrictwin.errors import FabricTwinError

_SI = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_IEC = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50}
_NUM = r"([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)"

_RATE_RE = re.compile(_NUM + r"\s*([kKMGTP]?)(bps|b/s|Bps|B/s)?$")
_TIME_RE = re.compile(_NUM + r"\s*(ns|us|µs|ms|s)?$")
_SIZE_RE = re.compile(_NUM + r"\s*([kKMGTP]i?)?(B)?$")
_TIME_NS = {None: 1.0, "ns": 1.0, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9}


def _read(value: object, what: str, pattern: re.Pattern[str], kind: str,
          scale: Callable[[re.Match[str]], float]) -> float:
    """A plain number as it is, or a string matched by ``pattern`` times its unit ``scale``."""
    if isinstance(value, bool):
        raise FabricTwinError(f"{what}: expected a number, got a boolean")
    if isinstance(value, int | float):
        num = float(value)
    elif not isinstance(value, str):
        raise FabricTwinError(f"{what}: expected a number or a string, got {type(value).__name__}")
    else:
        m = pattern.match(value.strip())
        if not m:
            raise FabricTwinError(f"{what}: cannot read {value!r} as {kind}")
        num = float(m.group(1)) * scale(m)
    if not math.isfinite(num):  # 1e400, .inf, .nan: no quantity of hardware
        raise FabricTwinError(f"{what}: {value!r} is not a finite {kind.split(' (')[0][2:]}")
    return num


def _rate_scale(m: re.Match[str]) -> float:
    return _SI[m.group(2)] * (8 if m.group(3) in ("Bps", "B/s") else 1)


def _size_scale(m: re.Match[str]) -> float:
    prefix = m.group(2) or ""
    if not prefix:
        return 1.0
    if prefix.endswith("i") or not m.group(3):  # 1Mi, 1MiB and nccl-tests' 1M: binary
        return _IEC[prefix[0].upper() + "i"]
    return _SI[prefix]  # 1MB: decimal


def parse_rate_bps(value: object, what: str = "rate") -> float:
    """Bits per second from ``400G``/``400Gbps`` (bits) or ``900GB/s`` (bytes) or a number."""
    num = _read(value, what, _RATE_RE, "a rate (e.g. 400G, 900GB/s)", _rate_scale)
    if not num > 0:
        raise FabricTwinError(f"{what}: must be positive, got {value!r}")
    return num


def parse_latency_ns(value: object, what: str = "latency") -> float:
    """Nanoseconds from ``100ns``, ``5us``, ``2ms``, ``1s`` or a number of ns; zero allowed."""
    num = _read(value, what, _TIME_RE, "a time (e.g. 100ns, 5us)",
                lambda m: _TIME_NS[m.group(2)])
    if num < 0:
        raise FabricTwinError(f"{what}: must not be negative, got {value!r}")
    return num


def parse_size_bytes(value: object, what: str = "size") -> int:
    """Bytes from ``64M``/``64MiB`` (2**20 multiples, as nccl-tests), ``64MB`` (1e6) or a number.

    >>> parse_size_bytes("1M"), parse_size_bytes("1MiB"), parse_size_bytes("1MB")
    (1048576, 1048576, 1000000)
    >>> parse_size_bytes("1e6"), parse_size_bytes(4096)
    (1000000, 4096)
    """
    num = _read(value, what, _SIZE_RE, "a size (e.g. 64M, 1GiB)", _size_scale)
    if num != int(num):
        raise FabricTwinError(f"{what}: {value!r} is not a whole number of bytes")
    if num <= 0:
        raise FabricTwinError(f"{what}: must be positive, got {value!r}")
    return int(num)


def format_rate(rate_bps: float) -> str:
    """Human-readable rate: ``400 Gb/s``, ``7.2 Tb/s``."""
    units = ((1e15, "Pb/s"), (1e12, "Tb/s"), (1e9, "Gb/s"), (1e6, "Mb/s"), (1e3, "kb/s"))
    for scale, unit in units:
        if rate_bps >= scale:
            return f"{rate_bps / scale:.4g} {unit}"
    return f"{rate_bps:.4g} b/s"


def format_latency(latency_ns: float) -> str:
    """Human-readable time: ``250 ns``, ``1.2 us``, ``5 ms``."""
    for scale, unit in ((1e9, "s"), (1e6, "ms"), (1e3, "us")):
        if latency_ns >= scale:
            return f"{latency_ns / scale:.4g} {unit}"
    return f"{latency_ns:.4g} ns"


def format_bytes(size_bytes: float) -> str:
    """Human-readable size with binary prefixes, as nccl-tests prints them."""
    for scale, unit in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if size_bytes >= scale:
            return f"{size_bytes / scale:.4g} {unit}"
    return f"{size_bytes:.4g} B"
