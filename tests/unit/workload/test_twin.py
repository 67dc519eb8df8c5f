"""The twin: counts against hand-computed values, YAML errors, the command's JSON keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fabrictwin.cli.main import main
from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.profiles import ProfileLibrary
from fabrictwin.workload.cluster import Cluster
from fabrictwin.workload.flops import kv_bytes_per_token, params, training_flops_per_token
from fabrictwin.workload.serving import evaluate
from fabrictwin.workload.spec import ModelConfig, load_workload

EXAMPLES = sorted((Path(__file__).parents[3] / "fabrictwin/workload/examples").glob("*.yaml"))


def test_llama70b_counts() -> None:
    m = load_workload("llama70b-train").model
    # 80 x (2 x 8192 x 8192 + 2 x 8192 x 1024 + 3 x 8192 x 28672) + 2 x 128256 x 8192
    assert params(m).total == 80 * (2 * 8192**2 + 2 * 8192 * 1024 + 3 * 8192 * 28672) \
        + 2 * 128256 * 8192
    assert kv_bytes_per_token(m) == 2 * 80 * 8 * 128 * 2
    n = params(m).total - 128256 * 8192
    assert training_flops_per_token(m, 8192) == 6 * n + 12 * 80 * 64 * 128 * 8192


def test_mla_kv_bytes_and_moe_active() -> None:
    m = load_workload("deepseek-v3-train").model
    assert kv_bytes_per_token(m) == 61 * (512 + 64) * 1  # fp8
    assert 660e9 < params(m).total < 680e9 and 36e9 < params(m).active < 39e9


def test_tiny_model_by_hand() -> None:
    m = ModelConfig(layers=1, hidden=4, heads=2, kv_heads=1, ffn=8, vocab=3)
    # q, o: 4x4 each; k, v: 4x2 each; ffn 3x4x8; embeddings 2x3x4
    assert params(m).total == 32 + 16 + 96 + 24


@pytest.mark.parametrize("text, key", [
    ("model: {layers: 0}", "model.hidden"),
    ("training: {tp: 1}", "model"),
    ("colour: red", "colour"),
])
def test_yaml_errors_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    f = tmp_path / "w.yaml"
    f.write_text(f"name: x\n{text}\n")
    with pytest.raises(FabricTwinError) as err:
        load_workload(f)
    assert f"{key}:" in str(err.value) and "\n" not in str(err.value)


def test_bad_value_names_its_key(tmp_path: Path) -> None:
    good = Path(EXAMPLES[0]).read_text() if "train" in EXAMPLES[0].name else ""
    f = tmp_path / "w.yaml"
    f.write_text((good or Path(EXAMPLES[-1]).read_text()).replace("tp: 1\n", "tp: 0\n"))
    with pytest.raises(FabricTwinError, match=r"training\.tp: must be positive"):
        load_workload(f)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_load(path: Path) -> None:
    load_workload(path)


def test_training_json_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["twin", "llama70b-train", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("step_time_s", "tokens_per_s", "mfu", "tokens_per_joule", "comm_exposed_s"):
        assert key in out
    assert 0.2 < out["mfu"] < 0.6


def test_inference_json_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["twin", "llama70b-serve-pd", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("throughput_tokens_per_s", "goodput_tokens_per_s", "ttft_ms_p50",
                "tpot_ms_p50", "tokens_per_joule", "kv_bytes_per_token", "kv_transfer_GBps",
                "speedup_vs_colocated"):
        assert key in out


def test_bad_system_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["twin", "llama70b-train", "--system", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fabrictwin: error: --system:") and "\n" not in err


def test_pd_loses_on_short_prompts_at_low_load(tmp_path: Path) -> None:
    """Short prompts, light load, a 25 Gb/s fabric: colocated instances are idle, so
    separating prefill gains no goodput and the KV transfer makes TTFT worse."""
    from dataclasses import replace

    text = (Path(__file__).parents[3] / "fabrictwin/workload/examples/llama70b-serve-pd.yaml"
            ).read_text()
    text = text.replace("{mean: 2048, dist: lognormal, sigma: 0.6, max: 32768}", "512")
    text = text.replace("arrival_rate: 8 ", "arrival_rate: 0.5 ")
    f = tmp_path / "w.yaml"
    f.write_text(text)
    w = load_workload(f)
    lib = ProfileLibrary()
    c = Cluster(lib.load("dgx-h100", "hypernode"), lib.load("tomahawk5-51t2", "switch"))
    c = replace(c, nic_rate_bps=25e9)
    pd, co = evaluate(w, c, 0.5, "pd"), evaluate(w, c, 0.5, "colocated")
    assert pd["ttft_ms_p50"] > co["ttft_ms_p50"]
    assert pd["goodput_tokens_per_s"] <= co["goodput_tokens_per_s"]
