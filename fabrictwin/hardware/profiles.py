"""Named hardware profiles: YAML files shipped in the package or added by the user.

A profile file holds one part: ``kind`` (``hypernode``, ``nic``, ``switch`` or
``dci``) and the fields of the matching dataclass in
:mod:`fabrictwin.hardware.catalogue`; its ``name`` equals the file's stem. A
hyper-node may name its ``nic`` and ``chip`` by profile name instead of
describing them inline.

Lookup order for a name: the directories of ``search_path`` (the CLI fills it
from ``--profiles DIR`` and ``$FABRICTWIN_PROFILES``), then the shipped
profiles. A value containing ``/`` or ending in ``.yaml`` is read as a path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.catalogue import NIC, DCILink, HyperNode, SwitchChip
from fabrictwin.hardware.schema import build, read_yaml

SHIPPED_DIR = Path(__file__).with_name("profiles")
KINDS: dict[str, type] = {"hypernode": HyperNode, "nic": NIC, "switch": SwitchChip,
                          "dci": DCILink}


@dataclass(frozen=True)
class ProfileInfo:
    """What ``fabrictwin profiles`` lists."""

    name: str
    kind: str
    path: Path
    description: str


class ProfileLibrary:
    """Finds and loads profiles; user directories shadow the shipped ones."""

    def __init__(self, search_path: Sequence[str | Path] = ()) -> None:
        self.dirs = [Path(d) for d in search_path] + [SHIPPED_DIR]

    @classmethod
    def from_user(cls, dirs: Sequence[str | Path] | None = None) -> ProfileLibrary:
        """The library of ``--profiles`` directories, then ``$FABRICTWIN_PROFILES``."""
        env = os.environ.get("FABRICTWIN_PROFILES", "")
        for d in dirs or ():  # a mistyped --profiles must not pass silently
            if not Path(d).is_dir():
                raise FabricTwinError(f"--profiles: {d} is not a directory")
        return cls([*(dirs or ()), *(d for d in env.split(os.pathsep) if d)])

    def find(self, name: str, kind: str | None = None) -> Path:
        if "/" in name or name.endswith((".yaml", ".yml")):
            path = Path(name)
            if not path.is_file():
                raise FabricTwinError(f"{name}: no such profile file")
            return path
        for d in self.dirs:
            for ext in (".yaml", ".yml"):
                if (d / f"{name}{ext}").is_file():
                    return d / f"{name}{ext}"
        known = ", ".join(p.name for p in self.list() if kind in (None, p.kind))
        what = f"{kind} profile" if kind else "profile"
        raise FabricTwinError(f"unknown {what} {name!r} (known: {known})")

    def load(self, name: str, kind: str | None = None) -> Any:
        """Load the profile ``name`` (or a path), checking it is of ``kind``."""
        return self.load_file(self.find(name, kind), kind)

    def load_file(self, path: Path, kind: str | None = None) -> Any:
        data = read_yaml(path)
        try:
            return self._build(path, data, kind)
        except FabricTwinError as exc:
            raise FabricTwinError(f"{path}: {exc}") from None

    def _build(self, path: Path, data: Any, kind: str | None) -> Any:
        if not isinstance(data, dict):
            raise FabricTwinError("expected a mapping with 'kind' and 'name'")
        data = dict(data)
        found = data.pop("kind", None)
        if found not in KINDS:
            raise FabricTwinError(f"kind: must be one of {', '.join(KINDS)}, got {found!r}")
        if kind is not None and found != kind:
            raise FabricTwinError(f"kind: expected a {kind} profile, this is a {found}")
        if data.get("name") != path.stem:
            raise FabricTwinError(f"name: must equal the file name {path.stem!r}, "
                                  f"got {data.get('name')!r}")
        resolve = {NIC: lambda n: self.load(n, "nic"), SwitchChip: lambda n: self.load(n, "switch")}
        return build(KINDS[found], data, resolve=resolve)

    def list(self) -> list[ProfileInfo]:
        """Every profile on the search path, shadowed names omitted."""
        seen: dict[str, ProfileInfo] = {}
        for d in self.dirs:
            for path in sorted(_yaml_files(d)):
                if path.stem in seen:
                    continue
                data = read_yaml(path)
                if isinstance(data, dict):
                    seen[path.stem] = ProfileInfo(path.stem, str(data.get("kind", "?")), path,
                                                  str(data.get("description", "")).strip())
        return sorted(seen.values(), key=lambda p: (p.kind, p.name))


def _yaml_files(d: Path) -> Iterable[Path]:
    if not d.is_dir():
        return []
    return [p for p in d.iterdir() if p.suffix in (".yaml", ".yml")]
