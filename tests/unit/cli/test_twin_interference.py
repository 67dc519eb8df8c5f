"""`fabrictwin twin --interference FILE`: measured slowdowns enter the twin's figures."""

from __future__ import annotations

import json

import pytest

from tests.helpers.cli import run_cli


def _file(tmp_path, **slowdown) -> str:
    path = tmp_path / "interference.json"
    path.write_text(json.dumps({"ok": True, "slowdown": slowdown}))
    return str(path)


def _twin(*args: str) -> dict:
    out = run_cli("twin", *args, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_kv_transfers_take_the_measured_slowdown(tmp_path):
    base = _twin("llama70b-serve-pd")
    slow = _twin("llama70b-serve-pd", "--interference", _file(tmp_path, dp=1.0, kv_transfer=3.0))
    assert slow["interference"] == {"source": str(tmp_path / "interference.json"), "dp": 1.0,
                                    "kv_transfer": 3.0}
    assert slow["kv_transfer_ms_p50"] == pytest.approx(3 * base["kv_transfer_ms_p50"])
    assert slow["kv_transfer_GBps"] == pytest.approx(base["kv_transfer_GBps"] / 3)


def test_dp_collectives_take_the_measured_slowdown(tmp_path):
    base = _twin("llama70b-train")
    slow = _twin("llama70b-train", "--interference", _file(tmp_path, dp=2.0, kv_transfer=1.0))
    assert slow["comm_by_phase_s"]["dp_total"] == pytest.approx(
        2 * base["comm_by_phase_s"]["dp_total"])
    assert slow["step_time_s"] >= base["step_time_s"]
    assert "interference" not in base


def test_the_table_says_it_applied_them(tmp_path):
    out = run_cli("twin", "llama70b-serve-pd", "--interference",
                  _file(tmp_path, dp=1.2, kv_transfer=1.5))
    assert out.returncode == 0, out.stderr
    assert "measured interference applied" in out.stdout and "x1.50" in out.stdout


@pytest.mark.parametrize("content, message", [
    ("{", "--interference"),
    ('{"ok": false, "slowdown": {"dp": 1, "kv_transfer": 1}}', "not a completed"),
    ('{"ok": true, "slowdown": {"dp": 1}}', "slowdown.kv_transfer"),
    ('{"ok": true, "slowdown": {"dp": -1, "kv_transfer": 1}}', "slowdown.dp"),
])
def test_a_bad_file_is_one_line_and_exit_2(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    out = run_cli("twin", "llama70b-serve-pd", "--interference", str(path))
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert message in line
