"""Bad input anywhere: one line naming it and exit 2, never a traceback (property-based)."""

from __future__ import annotations

import contextlib
import io
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fabrictwin.cli.main import main
from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.schema import MAX_YAML_ALIASES, read_yaml
from fabrictwin.runs.scenario import load_scenario

BUILDERS = ["fat_tree", "leaf_spine", "rail_optimized", "multi_dc", "ai_factory", "hypernode",
            "nosuch"]
KEYS = ["k", "leaves", "spines", "hosts_per_leaf", "cable_m", "distance_km", "dcs",
        "hypernodes", "profile", "collapse", "uplink_rate", "compute_trays", "bogus"]
NUMBERS = st.one_of(st.integers(-10**9, 10**9).map(str), st.floats(allow_nan=True).map(str),
                    st.sampled_from(["1e400", "-0", "nan", "inf", "", "1/2", "0x10", "4"]))
VALUES = st.one_of(NUMBERS, st.text(string.printable, max_size=8))


def cli(*args: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(list(args))
    return code, err.getvalue()


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(BUILDERS), st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=3))
def test_random_specs_end_in_a_result_or_one_line(builder, params):
    spec = ",".join([builder, *(f"{k}={v}" for k, v in params.items())])
    try:
        code, err = cli("topo", "check", spec)
    except SystemExit as exc:  # argparse refusing the spec string itself (exit 2)
        code, err = exc.code, "argparse"
    assert code in (0, 1, 2), (spec, code)
    if code == 2:
        assert len(err.strip().splitlines()) <= 2, err  # argparse: usage + one line


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["--size", "--gpus", "--nodes", "--nic-gbps", "--distance-km"]),
       NUMBERS)
def test_random_project_numbers_end_in_a_result_or_one_line(option, value):
    args = {"--size": "1M", "--gpus": "16", "--nodes": "2", option: value}
    flat = [f"{k}={v}" for k, v in args.items()]  # "--size=-1" is a value, not an option
    code, err = cli("project", "--system", "dgx-h100", "--collective", "all_reduce", *flat)
    assert code in (0, 2), (option, value, err)
    if code == 2:
        assert len(err.strip().splitlines()) == 1 and err.startswith("fabrictwin: error:")


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(max_size=200), st.binary(max_size=60).map(
    lambda b: b.decode("latin-1"))))
def test_random_yaml_scenarios_are_read_or_refused_in_one_line(tmp_path, text):
    path = tmp_path / "s.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    with contextlib.suppress(FabricTwinError):
        load_scenario(path)


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path):
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i, name in enumerate("bcdefghij"):
        prev = "abcdefghij"[i]
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines))
    with pytest.raises(FabricTwinError, match=f"more than {MAX_YAML_ALIASES} aliases"):
        read_yaml(path)


@pytest.mark.parametrize("text,message", [
    ("name: a\nname: b\n", "key 'name' given twice"),
    ("x: 1\n", None),
])
def test_duplicate_keys_are_refused(tmp_path, text, message):
    path = tmp_path / "d.yaml"
    path.write_text(text)
    if message is None:
        assert read_yaml(path) == {"x": 1}
    else:
        with pytest.raises(FabricTwinError, match=message):
            read_yaml(path)


def test_a_non_utf8_file_is_named(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(FabricTwinError, match="latin.yaml: not UTF-8"):
        read_yaml(Path(path))


@pytest.mark.parametrize("value", [".inf", ".nan", "1e400", "-.inf"])
def test_non_finite_profile_numbers_are_refused(tmp_path, value):
    (tmp_path / "n.yaml").write_text(f"""kind: nic
name: n
rate_bps: {value}
""")
    code, err = cli("--profiles", str(tmp_path), "profiles", "n")
    assert code == 2 and "finite" in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("make_args,message", [
    (lambda p: ["topo", "show", "fat_tree,k=4", "--out", str(write(p / "f", "x") / "f" / "x")],
     "--out: cannot create"),
    (lambda p: ["--profiles", str(p / "missing"), "profiles"], "is not a directory"),
    (lambda p: ["project", "--system", "dgx-h100", "--collective", "all_reduce", "--gpus", "8",
                "--size", "1M", "--distance-km", "10"], "--distance-km: applies between"),
    (lambda p: ["project", "--system", "dgx-h100", "--collective", "all_reduce", "--gpus", "1",
                "--size", "1G"], "at least 2 GPUs"),
    (lambda p: ["emulate", "leaf_spine", "--servers", "10.0.0.2;reboot"], "not an IPv4"),
    (lambda p: ["emulate", "leaf_spine", "--ssh-config", str(p / "cfg")], "only with --servers"),
    (lambda p: ["emulate", "hypernode,profile=dgx-h100", "--servers", "10.0.0.2"],
     "more than the 1 parts"),
])
def test_options_that_cannot_apply_are_refused_in_one_line(tmp_path, make_args, message):
    code, err = cli(*make_args(tmp_path))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "missing").exists()


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path.parent
