import pytest

from fabrictwin.errors import FabricTwinError
from fabrictwin.units import (
    format_rate,
    parse_latency_ns,
    parse_rate_bps,
    parse_size_bytes,
)


@pytest.mark.parametrize("text,bps", [
    ("400G", 400e9), ("400Gbps", 400e9), ("400Gb/s", 400e9), ("900GB/s", 7.2e12),
    ("1.8TB/s", 14.4e12), ("25GB/s", 200e9), (100, 100.0), ("2.5e9", 2.5e9),
])
def test_rates(text, bps):
    assert parse_rate_bps(text) == pytest.approx(bps)


@pytest.mark.parametrize("text,ns", [("100ns", 100), ("5us", 5000), ("2ms", 2e6), (0, 0),
                                     ("1s", 1e9), ("7", 7)])
def test_latencies(text, ns):
    assert parse_latency_ns(text) == pytest.approx(ns)


@pytest.mark.parametrize("text,size", [("64M", 64 * 2**20), ("64MiB", 64 * 2**20),
                                       ("64MB", 64_000_000), ("1GiB", 2**30), ("1K", 1024),
                                       ("1KB", 1000), ("1e6", 10**6), ("4KiB", 4096),
                                       ("165MB", 165_000_000), (4096, 4096)])
def test_sizes(text, size):
    assert parse_size_bytes(text) == size


@pytest.mark.parametrize("fn,bad", [
    (parse_rate_bps, "fast"), (parse_rate_bps, "-1G"), (parse_rate_bps, 0),
    (parse_rate_bps, True), (parse_latency_ns, "5 parsecs"), (parse_latency_ns, -3),
    (parse_size_bytes, "1.5"), (parse_size_bytes, "0"), (parse_size_bytes, [1]),
])
def test_bad_values_name_what(fn, bad):
    with pytest.raises(FabricTwinError, match="^thing: "):
        fn(bad, "thing")


def test_format_rate_picks_unit():
    assert format_rate(7.2e12) == "7.2 Tb/s"
    assert format_rate(400e9) == "400 Gb/s"
