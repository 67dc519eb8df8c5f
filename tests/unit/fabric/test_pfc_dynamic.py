"""Dynamic (alpha) PFC thresholds of the pure core: XOFF follows the free shared pool."""

from __future__ import annotations

import pytest

from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric.pfc.core import FabricPfc, PortSpec, SendPause
from fabrictwin.protocols.pfc import MAX_QUANTA
from tests.helpers.pfc import POLL, RATE, XOFF, XON


def dynamic_ports(alpha: float, shared: int = 90_000) -> FabricPfc:
    return FabricPfc([PortSpec(f"p{i}", "s", f"h{i}", True, RATE, XOFF, XON, alpha, shared)
                      for i in (1, 2, 3)])


def test_dynamic_xoff_is_alpha_times_the_free_shared_pool():
    spec = PortSpec("p1", "s", "h1", True, RATE, XOFF, XON, 2.0, 90_000)
    assert spec.thresholds(0) == (180_000, 176_000)        # XON keeps the static gap
    assert spec.thresholds(60_000) == (60_000, 56_000)
    assert spec.thresholds(100_000) == (0, 0)              # pool exhausted: pause at once
    static = PortSpec("p1", "s", "h1", True, RATE, XOFF, XON)
    assert static.thresholds(60_000) == (XOFF, XON)


def test_one_congested_port_takes_more_of_an_idle_switch_than_a_static_share():
    # alpha 1: alone, a port pauses only past 1/2 of the pool (45 KB), not at static 10 KB
    pfc = dynamic_ports(1.0)
    assert pfc.tick(0, {"p3": 40_000}, {"p1": 40_000}) == []
    assert pfc.tick(POLL, {"p3": 46_000}, {"p1": 6_000}) == [SendPause("p1", MAX_QUANTA)]
    # below the dynamic XON (90000 - 40000 - gap 4000 = 46000 > 40000): resume
    assert pfc.tick(2 * POLL, {"p3": 40_000}, {}) == [SendPause("p1", 0)]


def test_a_busy_switch_lowers_every_ports_xoff():
    # p2 and p3 hold 70 KB; p1's 15 KB brings the switch to 85 KB, 5 KB short of the
    # pool: p1 now pauses at 15 KB where alone it held 40 KB (test above)
    pfc = dynamic_ports(1.0)
    assert pfc.tick(0, {"p3": 70_000}, {"p2": 35_000, "p3": 35_000}) == [
        SendPause("p2", MAX_QUANTA), SendPause("p3", MAX_QUANTA)]  # 35 KB > 20 KB each
    out = pfc.tick(POLL, {"p3": 85_000}, {"p1": 15_000})
    assert SendPause("p1", MAX_QUANTA) in out
    assert pfc.ports["p1"].share_bytes == 15_000


@pytest.mark.parametrize("alpha, shared", [(-1.0, 1000), (float("inf"), 1000), (1.0, 0)])
def test_dynamic_thresholds_need_alpha_and_a_pool(alpha, shared):
    with pytest.raises(FabricTwinError, match="dynamic thresholds"):
        FabricPfc([PortSpec("p1", "s", "h1", True, RATE, XOFF, XON, alpha, shared)])
