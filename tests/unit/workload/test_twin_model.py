"""The twin's recomputation, interleaving, GELU MLPs, decode roofline and closed loop."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.profiles import ProfileLibrary
from fabrictwin.hardware.schema import build
from fabrictwin.workload.cluster import Cluster
from fabrictwin.workload.flops import params, recompute_flops_per_token
from fabrictwin.workload.inference import Roofline
from fabrictwin.workload.serving import evaluate, serve
from fabrictwin.workload.spec import ModelConfig, Workload, load_workload
from fabrictwin.workload.training import train_step


def _cluster(name: str = "dgx-h100") -> Cluster:
    lib = ProfileLibrary()
    return Cluster(lib.load(name, "hypernode"), lib.load("tomahawk5-51t2", "switch"))


def _train(**training: object) -> Workload:
    w = load_workload("llama70b-train")
    return replace(w, training=replace(w.training, **training))


def test_gelu_mlp_has_two_matrices() -> None:
    gated = ModelConfig(layers=1, hidden=4, heads=2, ffn=16, vocab=3)
    gelu = replace(gated, gated_ffn=False)
    assert params(gated).dense_ffn == 3 * 4 * 16 and params(gelu).dense_ffn == 2 * 4 * 16


def test_recompute_costs_time_not_mfu_flops() -> None:
    base, full = train_step(_train(), _cluster()), train_step(_train(recompute="full"),
                                                               _cluster())
    m = load_workload("llama70b-train").model
    assert recompute_flops_per_token(m, 8192, "selective") < \
        recompute_flops_per_token(m, 8192, "full")
    # a forward pass more: compute grows by about a third, the model FLOPs do not
    assert 1.25 < full.compute_s / base.compute_s < 1.40
    assert full.mfu < base.mfu


def test_interleaving_divides_the_bubble() -> None:
    plain, inter = train_step(_train(), _cluster()), train_step(_train(virtual_stages=4),
                                                                _cluster())
    assert inter.bubble_s == pytest.approx(plain.bubble_s / 4)
    assert inter.step_time_s < plain.step_time_s


def test_bad_recompute_and_interleave_name_the_key() -> None:
    w = load_workload("llama70b-train")
    data = {"name": "x", "model": w.model.__dict__,
            "training": {**w.training.__dict__, "recompute": "some"}}
    with pytest.raises(FabricTwinError, match="training.recompute"):
        build(Workload, data)
    data["training"].update(recompute="none", pp=1, dp=64, virtual_stages=2)
    with pytest.raises(FabricTwinError, match="training.virtual_stages"):
        build(Workload, data)


def test_decode_step_adds_attention_to_the_weight_gemms() -> None:
    """At a large batch the GEMMs are compute-bound and the KV reads come on top."""
    m = load_workload("llama70b-serve-pd").model
    r = Roofline(m, _cluster(), tp=8, eff=0.5, mem_eff=0.8)
    short, long_ = r.decode_step_s(512, 16), r.decode_step_s(512, 4096)
    kv_read = 512 * (4096 - 16) * 2 * 80 * 8 * 128 * 2 / (8 * 3.35e12 * 0.8)
    assert long_ - short == pytest.approx(kv_read, rel=0.05)


def test_closed_loop_beyond_saturation_is_not_overloaded() -> None:
    """More requests in flight than the instance sustains: it runs at its saturation rate."""
    w = load_workload("llama70b-serve-colocated")
    inf = replace(w.inference, arrival_rate=0.0, concurrency=5000, requests=200)
    w = replace(w, inference=inf)
    out = serve(w, _cluster())
    assert not out["overloaded"] and out["throughput_tokens_per_s"] > 0
    assert evaluate(w, _cluster(), out["arrival_rate"], "colocated")["ttft_ms_mean"] > 0
