"""Strict conversion of plain YAML data into frozen dataclasses.

Every dataclass field declares how to read it through ``metadata["parse"]`` (a
function ``(value, what) -> value``) or by its type (nested dataclass, ``int``,
``float``, ``str``). Unknown keys, wrong types and impossible values raise
:class:`FabricTwinError` with the key path, e.g. ``chip.radix: must be >= 1``.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from fabrictwin.errors import FabricTwinError

T = TypeVar("T")


class FieldError(FabricTwinError):
    """An impossible value found by a dataclass's own checks; ``field`` names the key."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def spec(parse: Callable[[Any, str], Any] | None = None, doc: str = "", **kw: Any) -> Any:
    """A dataclass field whose YAML value is read by ``parse`` (units) and documented."""
    return dataclasses.field(metadata={"parse": parse, "doc": doc}, **kw)


def read_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FabricTwinError(f"{what}: expected an integer, got {value!r}")
    return value


def read_float(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FabricTwinError(f"{what}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise FabricTwinError(f"{what}: expected a finite number, got {value!r}")
    return float(value)


def read_str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise FabricTwinError(f"{what}: expected a string, got {value!r}")
    return value


def read_int_tuple(value: Any, what: str) -> tuple[int, ...]:
    """An integer or a list of integers (a single integer is one element)."""
    if isinstance(value, list):
        return tuple(read_int(v, f"{what}[{i}]") for i, v in enumerate(value))
    return (read_int(value, what),)


def read_bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):  # YAML's true/false; not 0/1 or "yes" in quotes
        raise FabricTwinError(f"{what}: expected true or false, got {value!r}")
    return value


_BY_TYPE: dict[Any, Callable[[Any, str], Any]] = {
    int: read_int, float: read_float, str: read_str, tuple[int, ...]: read_int_tuple,
    bool: read_bool,
}


def build(cls: type[T], data: Any, path: str = "", resolve: Mapping[type, Callable] = {}) -> T:  # noqa: B006
    """Build ``cls`` from a mapping, checking keys, types and values.

    ``resolve`` maps a dataclass type to a function that turns a string reference
    (a profile name) into an instance, so a YAML file may name a NIC instead of
    describing it inline.
    """
    prefix = f"{path}." if path else ""
    if isinstance(data, str) and cls in resolve:
        try:
            return resolve[cls](data)
        except FabricTwinError as exc:
            raise FabricTwinError(f"{path or cls.__name__}: {exc}") from None
    if not isinstance(data, Mapping):
        raise FabricTwinError(f"{path or '<top>'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(map(str, data)) - set(fields))
    if unknown:
        raise FabricTwinError(
            f"{prefix}{unknown[0]}: unknown key (expected one of {', '.join(sorted(fields))})"
        )
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        where = prefix + name
        if name not in data:
            no_default = f.default is dataclasses.MISSING
            if no_default and f.default_factory is dataclasses.MISSING:
                raise FabricTwinError(f"{where}: missing required key")
            continue
        value, hint = data[name], hints[name]
        parse = f.metadata.get("parse")
        if parse is not None:
            kwargs[name] = parse(value, where)
        elif dataclasses.is_dataclass(hint):
            kwargs[name] = build(hint, value, where, resolve)
        elif hint in _BY_TYPE:
            kwargs[name] = _BY_TYPE[hint](value, where)
        else:  # pragma: no cover - a schema bug, not user input
            raise TypeError(f"no reader for {cls.__name__}.{name}: {hint}")
    try:
        return cls(**kwargs)
    except FieldError as exc:
        raise FabricTwinError(f"{prefix}{exc.field}: {exc.reason}") from None


def positive(name: str, value: float) -> None:
    """Raise FieldError unless value > 0."""
    if not value > 0:
        raise FieldError(name, f"must be positive, got {value}")


#: Alias references a YAML document may hold: anchors are handy, but a few hundred
#: bytes of nested aliases expand to gigabytes (a "billion laughs" document).
MAX_YAML_ALIASES = 64


class _StrictLoader(yaml.SafeLoader):
    """safe_load that refuses duplicate keys and alias bombs, each in one line."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_YAML_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_YAML_ALIASES} aliases (*name): "
                                     "refused, they can expand without bound")
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                line = key_node.start_mark.line + 1
                raise yaml.YAMLError(f"line {line}: key {key!r} given twice")
            seen.add(key if isinstance(key, Hashable) else id(key))
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; unreadable, non-UTF-8 or invalid files (duplicate keys, alias
    bombs included) raise one line with the file name."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise FabricTwinError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise FabricTwinError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise FabricTwinError(f"{path}:{where}: invalid YAML: {problem}") from None
