"""`fabrictwin twin --compare` on a serving workload: JSON per system, a table and a PNG."""

from __future__ import annotations

import json

from tests.helpers.cli import run_cli


def test_compare_serving_json_and_png(tmp_path):
    out = run_cli("twin", "llama70b-serve-pd", "--compare", "dgx-h100,dgx-h200", "--json",
                  "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    systems = [r["system"] for r in report["results"]]
    assert systems == ["dgx-h100", "dgx-h200"]
    for r in report["results"]:
        assert r["kind"] == "inference"
        for key in ("goodput_tokens_per_s", "ttft_ms_p50", "kv_transfer_GBps",
                    "speedup_vs_colocated", "tokens_per_joule"):
            assert key in r
    # more HBM bandwidth and memory: the H200 decodes no slower
    assert report["results"][1]["tpot_ms_p50"] <= report["results"][0]["tpot_ms_p50"]
    png = tmp_path / "llama70b-serve-pd-compare.png"
    assert report["plot"] == str(png) and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_serving_table(tmp_path):
    out = run_cli("twin", "llama70b-serve-colocated", "--compare", "dgx-h100,dgx-b200",
                  "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    # rich folds the system names in a narrow (non-terminal) console: check the rows' count
    for fragment in ("systems compared", "TTFT", "wrote"):
        assert fragment in out.stdout
    assert out.stdout.count("│ dgx-") == 2
    assert (tmp_path / "llama70b-serve-colocated-compare.png").is_file()
