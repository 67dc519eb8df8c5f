"""The layer check ``make lint`` runs: the package passes it, and it catches what it must."""

from __future__ import annotations

from pathlib import Path

from tests.layers import check, main

PACKAGE = Path(__file__).resolve().parents[2] / "fabrictwin"


def make_package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "fabrictwin"
    for name in ("__init__.py", "errors.py", "linux/__init__.py", "runs/__init__.py",
                 "traffic/__init__.py", "fabric/__init__.py", *files):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files.get(name, '"""A module."""\n'))
    return root


def test_the_package_has_no_upward_import_and_no_cycle():
    assert check(PACKAGE) == []


def test_an_upward_import_fails(tmp_path, capsys):
    root = make_package(tmp_path, {"linux/names.py": "from fabrictwin.runs import session\n",
                                   "runs/session.py": "from fabrictwin.linux import names\n"})
    problems = check(root)
    assert any("fabrictwin.linux.names imports fabrictwin.runs.session, which is above it"
               in p for p in problems), problems
    assert main([str(root)]) == 1
    assert "linux/names.py:1:" in capsys.readouterr().out


def test_a_lazy_import_inside_a_function_counts(tmp_path):
    root = make_package(tmp_path, {"linux/names.py": "def f():\n    import fabrictwin.runs\n"})
    assert any("which is above it" in p for p in check(root))


def test_packages_on_one_layer_are_independent(tmp_path):
    root = make_package(tmp_path, {"traffic/agent.py": "from fabrictwin.fabric import plan\n",
                                   "fabric/plan.py": '"""Plan."""\n'})
    assert any("fabrictwin.traffic.agent imports fabrictwin.fabric.plan, which is beside it"
               in p for p in check(root))


def test_a_cycle_inside_one_package_fails(tmp_path):
    root = make_package(tmp_path, {"runs/a.py": "from fabrictwin.runs import b\n",
                                   "runs/b.py": "import fabrictwin.runs.a\n"})
    assert [p for p in check(root) if "import cycle" in p]


def test_downward_imports_pass(tmp_path):
    root = make_package(tmp_path, {"runs/a.py": "from fabrictwin.linux import x\n"
                                                "from fabrictwin.errors import E\n",
                                   "linux/x.py": "from fabrictwin.errors import E\n"})
    assert check(root) == []
