"""The `fabrictwin` command as a user runs it: exit codes, JSON, files, one-line errors."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import networkx as nx
import pytest

from fabrictwin.topologies.registry import build_topology
from tests.helpers.cli import ROOT, run_cli


def test_topo_check_json_fat_tree():
    out = run_cli("topo", "check", "fat_tree,k=4", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    for key in ("hosts", "switches", "links", "bisection_bps", "oversubscription",
                "diameter_hops", "ok"):
        assert key in report
    assert (report["hosts"], report["switches"], report["links"]) == (16, 20, 48)
    assert report["ok"] is True and report["diameter_hops"] == 6


@pytest.mark.parametrize("spec", ["hypernode,profile=gb200-nvl72", "leaf_spine", "fat_tree",
                                  "rail_optimized", "multi_dc", "ai_factory",
                                  "hypernode,profile=oex"])
def test_topo_check_answers_every_builder(spec):
    out = run_cli("topo", "check", spec)
    assert out.returncode == 0, out.stderr
    assert "bisection bandwidth" in out.stdout and "FAIL" not in out.stdout


@pytest.mark.parametrize("args,fragment", [
    (["topo", "check", "fat_tree,k=5"], "even k"),
    (["topo", "check", "hypernode,profile=nosuch"], "unknown hypernode profile 'nosuch'"),
    (["--profiles", "/nonexistent", "profiles", "nosuch"],
     "--profiles: /nonexistent is not a directory"),
    (["profiles", "nosuch"], "unknown profile 'nosuch'"),
    (["demo", "--scenario", "/nonexistent.yaml"], "cannot read"),
])
def test_bad_input_one_line_exit_2(args, fragment):
    out = run_cli(*args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fabrictwin: error: ")
    assert fragment in lines[0]
    assert out.stdout == ""


def test_bad_scenario_names_key_path(tmp_path):
    bad = tmp_path / "s.yaml"
    bad.write_text("name: x\ntopology: fat_tree,k=4\ntraffic: lots\n")
    out = run_cli("demo", "--scenario", str(bad))
    assert out.returncode == 2 and f"{bad}: traffic: unknown key" in out.stderr
    bad.write_text("name: x\ntopology: fat_tree,k=7\n")
    out = run_cli("demo", "--scenario", str(bad))
    assert out.returncode == 2 and f"{bad}: topology: fat_tree: k:" in out.stderr


def test_topo_show_writes_png_graphml_json(tmp_path):
    out = run_cli("topo", "show", "ai_factory,hypernodes=2", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    png = tmp_path / "ai_factory.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ET.parse(tmp_path / "ai_factory.graphml")
    g = nx.read_graphml(tmp_path / "ai_factory.graphml")
    built = build_topology("ai_factory,hypernodes=2")
    assert set(g.nodes) == set(built.nodes) and g.number_of_edges() == built.number_of_edges()
    # 16 GPUs, 2 collapsed chips, 8 rail leaves, 1 spine
    assert g.number_of_nodes() == 16 + 2 + 8 + 1
    assert g.edges["d0n0g0", "d0n0c0"]["ports"] == "d0n0g0:1 d0n0c0:1"
    report = json.loads((tmp_path / "ai_factory.json").read_text())
    assert report["hosts"] == 16 and report["ok"]


def test_demo_prints_default_factory_report():
    # the emulated part of the demo is `fabrictwin run`, tested in test_run_root.py
    out = run_cli("demo", "--no-emulation")
    assert out.returncode == 0, out.stderr
    for fragment in ("scenario default", "bisection bandwidth", "dgx-h100", "cx7-400g",
                     "scale-out bandwidth"):
        assert fragment in out.stdout
    out = run_cli("demo", "--no-emulation", "--scenario",
                  str(ROOT / "fabrictwin/runs/scenarios/two-dc.yaml"))
    assert out.returncode == 0 and "scale-across bandwidth" in out.stdout and "zr400" in out.stdout


def test_profiles_list_and_show():
    out = run_cli("profiles")
    assert out.returncode == 0 and "gb200-nvl72" in out.stdout and "zr400" in out.stdout
    out = run_cli("profiles", "gb200-nvl72")
    assert out.returncode == 0 and "72 x" in out.stdout


def test_topo_list_names_every_builder():
    out = run_cli("topo", "list")
    for name in ("hypernode", "leaf_spine", "fat_tree", "rail_optimized", "multi_dc",
                 "ai_factory"):
        assert name in out.stdout


def test_user_profiles_from_environment(tmp_path, monkeypatch):
    (tmp_path / "fast-nic.yaml").write_text("kind: nic\nname: fast-nic\nrate_bps: 800G\n")
    monkeypatch.setenv("FABRICTWIN_PROFILES", str(tmp_path))
    out = run_cli("topo", "check", "leaf_spine,nic=fast-nic", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["tier_bandwidth_bps"]["scale-out"] > 0


def test_failed_check_exits_1(monkeypatch, capsys):
    # No spec string builds a broken topology, so break one on its way to the check.
    import fabrictwin.cli.main as cli
    import fabrictwin.cli.topo as topo

    def broken(spec, library=None):
        g = build_topology(spec, library)
        g.remove_edge("p0e0h0", "p0e0")
        return g

    monkeypatch.setattr(topo, "build_topology", broken)
    assert cli.main(["topo", "check", "fat_tree,k=4", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["checks"]["reachable"]["ok"] is False


def test_mininet_visible_in_venv():
    """The venv sees Debian's mininet (with mnexec), as the Makefile arranges."""
    import shutil
    mininet = pytest.importorskip("mininet.net")
    assert mininet.VERSION.startswith("2.3")
    assert shutil.which("mnexec") is not None


@pytest.mark.parametrize("args,fragment", [
    (["run", "--topo", "fat_tree,k=2"], "give a scenario file, or --collective and --topo"),
    (["run", "--collective", "allsum", "--topo", "fat_tree,k=2"], "--collective: unknown"),
    (["run", "--collective", "allreduce", "--topo", "fat_tree,k=2", "--sizes", "4M:1M"],
     "--sizes: 1M is smaller than 4M"),
    (["run", "--collective", "allreduce", "--topo", "fat_tree,k=2", "--dilation", "0"],
     "--dilation must be positive"),
    (["run", "--collective", "allreduce", "--topo", "fat_tree,k=2", "--algo", "nvls"],
     "algorithm: 'nvls' not available for all_reduce"),
])
def test_run_bad_input_before_anything_starts(args, fragment):
    out = run_cli(*args)
    assert out.returncode == 2, out.stderr
    assert fragment in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_run_scenario_key_paths(tmp_path):
    bad = tmp_path / "s.yaml"
    bad.write_text("name: x\ntopology: fat_tree,k=2\ncollective: all_reduce\nsizes: [1]\n")
    out = run_cli("run", str(bad))
    assert out.returncode == 2 and f"{bad}: sizes: expected a string" in out.stderr
    bad.write_text("name: x\ntopology: fat_tree,k=2\n")
    out = run_cli("run", str(bad))
    assert out.returncode == 2 and "collective: missing" in out.stderr


def test_run_scenario_policy_is_checked_before_anything_starts(tmp_path):
    (tmp_path / "steep.yaml").write_text("ecn: {pmax: 1.5}\n")
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: x\ntopology: fat_tree,k=2\ncollective: all_reduce\n"
                        "policy: steep.yaml\n")
    out = run_cli("run", str(scenario))
    assert out.returncode == 2, out.stderr
    assert f"{scenario}: policy: " in out.stderr and "ecn.pmax" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    scenario.write_text("name: x\ntopology: fat_tree,k=2\ncollective: all_reduce\n"
                        "policy: missing.yaml\n")
    out = run_cli("run", str(scenario))
    assert out.returncode == 2 and "policy: " in out.stderr and "cannot read" in out.stderr


@pytest.mark.parametrize("value, message", [
    ("maybe", "pfc: expected true, false or a mapping (buffer, alpha, watchdog), got 'maybe'"),
    ("{buffer: lots}", "pfc.buffer: cannot read 'lots' as a size (e.g. 64M, 1GiB)"),
    ("{alpha: -1}", "pfc.alpha: expected a positive number, got -1"),
    ("{watchdog: {detect_us: 10}}", "pfc.watchdog.restore_us: missing required key"),
    ("{watchdog: {detect_us: 10, restore_us: 5, action: ignore}}",
     "pfc.watchdog.action: expected drop or forward, got 'ignore'"),
    ("{headroom: 5}",
     "pfc.headroom: unknown key (expected one of alpha, buffer, dci_lossy, watchdog)"),
])
def test_run_scenario_pfc_settings_are_checked(tmp_path, value, message):
    bad = tmp_path / "s.yaml"
    bad.write_text(f"name: x\ntopology: fat_tree,k=2\ncollective: all_reduce\npfc: {value}\n")
    out = run_cli("run", str(bad))
    assert out.returncode == 2
    assert out.stderr.strip() == f"fabrictwin: error: {bad}: {message}"


def test_the_demo_passes_run_every_option_run_knows(tmp_path):
    from fabrictwin.cli.demo import demo_run_args
    from fabrictwin.cli.main import parser

    parsed = parser().parse_args(["run", "scenario.yaml"])
    demo = demo_run_args(tmp_path / "scenario.yaml", parsed)
    assert set(vars(parsed)) - {"command", "verbose"} <= set(vars(demo))


LS = "leaf_spine,leaves=2,spines=2,hosts_per_leaf=2"


@pytest.mark.parametrize("fault, fragment", [
    ("loss:l0-s0@10us/150%", "loss rate must be above 0% and at most 100%"),
    ("corrupt:l0-s9@10us/1%", "no link 'l0-s9'"),
    ("controller:s0@10us", "the controller takes no target"),
])
def test_run_bad_faults_before_anything_starts(fault, fragment, tmp_path):
    out = run_cli("run", "--collective", "all_reduce", "--topo", LS, "--fault", fault,
                  "--out", str(tmp_path))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert fragment in out.stderr and not any(tmp_path.iterdir())


def test_run_static_refuses_a_controller_fault(tmp_path):
    out = run_cli("run", "--collective", "all_reduce", "--topo", LS, "--static", "--fault",
                  "controller@10us/50us", "--out", str(tmp_path))
    assert out.returncode == 2
    assert out.stderr.strip() == ("fabrictwin: error: --fault 'controller@10us/50us': the "
                                  "run has no controller (--static)")


@pytest.mark.parametrize("value, message", [
    ("[loss:l0-s0@10us]", "faults[0]: 'loss:l0-s0@10us': loss needs /RATE% after the time"),
    ("[link:l0-s0@10us, melt:l0@1us]", "faults[1]: 'melt:l0@1us': expected KIND:TARGET@TIME"),
    ("{link: l0-s0}", "faults: expected a list of fault specs"),
    ("[5]", "faults: expected a list of fault specs"),
])
def test_run_scenario_faults_are_checked_before_anything_starts(tmp_path, value, message):
    bad = tmp_path / "s.yaml"
    bad.write_text(f"name: x\ntopology: {LS}\ncollective: all_reduce\nfaults: {value}\n")
    out = run_cli("run", str(bad), "--out", str(tmp_path / "out"))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert out.stderr.strip().startswith(f"fabrictwin: error: {bad}: {message}")
    assert not (tmp_path / "out").exists()


def test_scenario_faults_are_read_and_parsed_against_its_topology(tmp_path):
    from fabrictwin.runs.scenario import load_scenario, scenario_faults

    path = tmp_path / "s.yaml"
    path.write_text(f"name: x\ntopology: {LS}\ncollective: all_reduce\n"
                    "faults: [loss:l0-s0@10us/1%, controller@20us/100us]\n")
    sc = load_scenario(path)
    assert sc.faults == ("loss:l0-s0@10us/1%", "controller@20us/100us")
    faults = scenario_faults(sc, path, build_topology(LS))
    assert [f.kind for f in faults] == ["loss", "controller"]
    from fabrictwin.errors import FabricTwinError
    with pytest.raises(FabricTwinError, match=r"faults\[1\]: .*no controller"):
        scenario_faults(sc, path, build_topology(LS), controller=False)
