"""Choice of algorithm and protocol: NCCL's enabled set, the fastest of it."""

from __future__ import annotations

import numpy as np
import pytest

from fabrictwin.model import build_system, cost, predict, size_sweep
from fabrictwin.model.algorithm import candidates
from fabrictwin.model.collectives import protocols_for

SIZES = size_sweep(8, 8 << 30)


def test_candidates_follow_nccl(lib):
    sw = lib.load("tomahawk5-51t2")
    h100, a100 = lib.load("dgx-h100"), lib.load("dgx-a100")
    assert candidates(build_system(h100, 8), "all_reduce") == ["ring", "tree", "nvls"]
    assert candidates(build_system(a100, 8), "all_reduce") == ["ring", "tree"]
    assert candidates(build_system(h100, 8), "all_gather") == ["ring", "nvls"]
    assert candidates(build_system(h100, 16, switch=sw), "all_gather") == ["ring"]
    assert candidates(build_system(h100, 8), "broadcast") == ["ring"]
    assert candidates(build_system(h100, 8), "alltoall") == ["direct"]
    # one GPU per node: nothing for the switch to reduce
    assert "nvls" not in candidates(build_system(h100, 4, nodes=4, switch=sw), "all_reduce")


def test_auto_is_the_fastest_enabled_choice(lib):
    sw = lib.load("tomahawk5-51t2")
    for name, gpus in (("dgx-h100", 8), ("dgx-a100", 16), ("gb200-nvl72", 144)):
        system = build_system(lib.load(name), gpus, switch=sw)
        auto = predict(system, "all_reduce", SIZES)
        for algo in candidates(system, "all_reduce"):
            for proto in protocols_for(system, algo):
                t = cost(system, "all_reduce", algo, proto).time_s(SIZES)
                assert np.all(auto.time_s <= t * (1 + 1e-12))


def test_small_messages_ring_large_messages_nvlink_sharp(lib):
    system = build_system(lib.load("dgx-h100"), 8)
    p = predict(system, "all_reduce", [8, 8 << 30])
    assert list(p.algorithm) == ["ring", "nvls"]
    assert p.protocol[1] == "Simple"
    # no in-switch reduction on NVSwitch gen 2: no NVLS, the ring for large messages
    a100 = predict(build_system(lib.load("dgx-a100"), 8), "all_reduce", SIZES)
    assert "nvls" not in set(a100.algorithm) and a100.algorithm[-1] == "ring"


def test_low_latency_protocol_for_small_messages(lib):
    system = build_system(lib.load("dgx-a100"), 32, switch=lib.load("tomahawk5-51t2"))
    p = predict(system, "all_reduce", [8, 8 << 30])
    assert p.protocol[0] in ("LL", "LL128") and p.protocol[1] == "Simple"
    assert p.algorithm[0] == "tree"  # log-depth latency across nodes


def test_explicit_choice_is_kept(lib):
    system = build_system(lib.load("dgx-h100"), 8)
    p = predict(system, "all_reduce", SIZES, "ring", "LL")
    assert set(p.algorithm) == {"ring"} and set(p.protocol) == {"LL"}
    q = predict(system, "all_reduce", SIZES, "ring")
    assert set(q.algorithm) == {"ring"} and len(set(q.protocol)) > 1


@pytest.mark.parametrize("collective", ["alltoall", "sendrecv"])
def test_point_to_point_is_direct(lib, collective):
    p = predict(build_system(lib.load("dgx-h100"), 8), collective, [1 << 20])
    assert p.algorithm[0] == "direct" and p.protocol[0] == "Simple"


def test_algorithm_by_size_nvls_takes_over_from_ring_on_one_h100_node(lib):
    system = build_system(lib.load("dgx-h100"), 8)
    p = predict(system, "all_reduce", SIZES)
    # tiny messages: ring or tree with LL/LL128; NVLS (25 us of latency in NCCL's tuner)
    # from about 1 MiB, where the tree's medium-size correction has made it slower
    small, large = p.size_bytes <= 64 << 10, p.size_bytes >= 64 << 20
    assert set(p.algorithm[small]) <= {"ring", "tree"}
    assert set(p.protocol[small]) <= {"LL", "LL128"}  # small messages: no chunk handshakes
    assert set(p.algorithm[large]) == {"nvls"}


def test_algorithm_by_size_across_nodes(lib):
    system = build_system(lib.load("dgx-h100"), 32, switch=lib.load("tomahawk5-51t2"))
    p = predict(system, "all_reduce", [8, 8 << 30])
    assert p.algorithm[0] in ("tree", "ring") and p.algorithm[1] == "nvls"
