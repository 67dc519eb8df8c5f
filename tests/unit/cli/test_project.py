"""``fabrictwin project`` as a user runs it: JSON, tables, the plot, one-line errors."""

from __future__ import annotations

import json

import pytest

from tests.helpers.cli import run_cli

HYPERNODES = ["dgx-h100", "dgx-h200", "dgx-a100", "dgx-b200", "gb200-nvl72", "oex"]


def project(*args: str):
    return run_cli("project", *args)


def test_json_has_figures_and_inputs():
    out = project("--system", "dgx-h100", "--collective", "all_reduce", "--gpus", "16",
                  "--size", "1GiB", "--nics-per-node", "8", "--nic-gbps", "400", "--json")
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    for key in ("time_us", "algbw_GBps", "busbw_GBps", "system", "collective", "gpus",
                "nodes", "nics_per_node", "nic_gbps", "algo", "size_bytes"):
        assert key in r
    assert (r["system"], r["gpus"], r["nodes"], r["size_bytes"]) == ("dgx-h100", 16, 2, 2**30)
    assert r["algbw_GBps"] == pytest.approx(r["size_bytes"] / r["time_us"] / 1e3)
    assert r["busbw_GBps"] == pytest.approx(r["algbw_GBps"] * 2 * 15 / 16)


def test_every_catalogue_system_answers(lib):
    for name in HYPERNODES:
        hn = lib.load(name)
        out = project("--system", name, "--collective", "all_reduce", "--gpus",
                      str(2 * hn.gpus), "--size", "256M", "--json")
        assert out.returncode == 0, (name, out.stderr)
        r = json.loads(out.stdout)
        assert r["nodes"] == 2 and r["busbw_GBps"] > 0


def test_table_names_the_figures():
    out = project("--system", "gb200-nvl72", "--collective", "alltoall", "--gpus", "72",
                  "--size", "64M")
    assert out.returncode == 0, out.stderr
    for word in ("time", "algbw", "busbw", "direct"):
        assert word in out.stdout


def test_sweep_doubles_sizes_and_plots(tmp_path):
    out = project("--system", "dgx-a100", "--collective", "reduce_scatter", "--gpus", "8",
                  "--sizes", "1M:8M", "--out", str(tmp_path), "--json")
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert [row["size_bytes"] for row in r["results"]] == [2**20, 2**21, 2**22, 2**23]
    times = [row["time_us"] for row in r["results"]]
    assert times == sorted(times)
    png = tmp_path / "dgx-a100-reduce_scatter-8gpus.png"
    assert r["plot"] == str(png) and png.read_bytes()[:4] == b"\x89PNG"
    table = project("--system", "dgx-a100", "--collective", "reduce_scatter", "--gpus", "8",
                    "--sizes", "1MiB:4MiB", "--out", str(tmp_path))
    assert table.returncode == 0 and "2097152" in table.stdout and "wrote" in table.stdout


def test_user_profile_directory(tmp_path):
    (tmp_path / "my-node.yaml").write_text("""
kind: hypernode
name: my-node
gpu: {model: future, rate_bps: 1.8TB/s}
compute_trays: 4
gpus_per_tray: 4
switch_trays: 2
chips_per_tray: 2
links_per_chip: 1
chip: {name: sw, radix: 64, port_rate_bps: 450GB/s, latency_ns: 90ns,
       reduction_efficiency: 0.8}
nic: cx8-800g
""")
    # 4 GiB: NCCL's 128 KiB NVLS chunks (below 64 x 16 channels x 16 heads x 128 KiB =
    # 2 GiB it runs 64 KiB ones, and at 1 GiB NVLS and the ring are within 5% here)
    out = run_cli("--profiles", str(tmp_path), "project", "--system", "my-node",
                  "--collective", "all_reduce", "--gpus", "16", "--size", "4G", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["algorithm"] == "nvls"


@pytest.mark.parametrize("args,fragment", [
    (["--system", "nosuch", "--collective", "all_reduce", "--gpus", "8", "--size", "1M"],
     "--system: unknown hypernode profile 'nosuch'"),
    (["--system", "dgx-h100", "--collective", "all_reduce", "--gpus", "0", "--size", "1M"],
     "--gpus: must be a positive integer"),
    (["--system", "dgx-h100", "--collective", "all_reduce", "--gpus", "8", "--size", "0"],
     "--size: must be positive"),
    (["--system", "dgx-h100", "--collective", "all_reduce", "--gpus", "16", "--nodes", "3",
      "--size", "1M"], "--nodes: 3 does not divide --gpus 16"),
    (["--system", "dgx-h100", "--collective", "allsum", "--gpus", "8", "--size", "1M"],
     "--collective: unknown 'allsum'"),
    (["--system", "dgx-h100", "--collective", "all_reduce", "--gpus", "8", "--sizes", "8G:1M"],
     "--sizes: 8G is larger than 1M"),
    (["--system", "dgx-a100", "--collective", "all_reduce", "--gpus", "8", "--size", "1M",
      "--algo", "nvls"], "--algo: nvls needs in-switch reduction"),
    (["--system", "dgx-h100", "--collective", "all_reduce", "--gpus", "eight", "--size", "1M"],
     "--gpus: expected a whole number"),
    (["--system", "dgx-h100", "--collective", "all_reduce", "--gpus", "8"], "--size: give"),
    (["--system", "dgx-h100", "--collective", "all_reduce", "--gpus", "8", "--size", "1M",
      "--floor-us", "-3"], "--floor-us: must be positive"),
    (["--system", "dgx-h100", "--collective", "all_reduce", "--gpus", "8", "--size", "1M",
      "--floor-us", "inf"], "--floor-us: must be positive"),
    (["--system", "dgx-h100", "--collective", "all_reduce", "--gpus", "8", "--size", "1M",
      "--floor-us", "soon"], "--floor-us: expected a number"),
])
def test_bad_input_one_line_exit_2(args, fragment):
    out = project(*args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fabrictwin: error: "), out.stderr
    assert fragment in lines[0]
    assert out.stdout == ""


@pytest.mark.parametrize("name", ["allreduce", "all-reduce", "All_Reduce"])
def test_collective_spellings(name):
    out = project("--system", "dgx-h100", "--collective", name, "--gpus", "8", "--size", "1M",
                  "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["collective"] == "all_reduce"


def test_a_measured_floor_holds_small_sizes_and_leaves_large_ones(tmp_path):
    base = ("--system", "dgx-h100", "--collective", "all_reduce", "--gpus", "8", "--json",
            "--sizes", "8:64M")

    def rows(*extra):
        out = project(*base, *extra, "--out", str(tmp_path))
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    alone, floored = rows(), rows("--floor-us", "40")
    assert floored["floor_us"] == 40.0 and "floor_us" not in alone
    for a, f in zip(alone["results"], floored["results"], strict=True):
        # never below the floor; where the device takes longer, the device's time
        assert f["time_us"] == pytest.approx(max(a["time_us"], 40.0))
        assert (f["bottleneck"] == "host call floor") == (a["time_us"] < 40.0)
        assert f["algorithm"] == a["algorithm"]  # NCCL picks by device time alone
    assert floored["results"][0]["bottleneck"] == "host call floor"
    assert floored["results"][-1]["time_us"] == alone["results"][-1]["time_us"]
