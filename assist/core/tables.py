"""TOML tables declared once: each key's type, range, choices, default and doc in one place.

A table (`[sip]`, `[srs]`, `[fleet]`, `[overlay]`, a rule pack's `[pack]` and `[[rule]]`) is a
frozen dataclass whose keys are fields declared with `key(...)`. The type is the field's
annotation (str, int, float, bool, tuple[str, ...], a Literal of strings whose values are the
choices, `X | None` for an optional default), so it is written once. `build()` checks a parsed
TOML table and makes the dataclass; `check_fields()`, from `__post_init__`, checks one made
directly (a benchmark, `dataclasses.replace`) the same way. Every problem is one ConfigError,

    table.key: expected a port number from 0 to 65535, got 70000

and the command that read the file adds it in front (`ConfigError.in_file`). Pure: a check that
needs the file system (a file that must exist) is passed in by the adapter that owns the table.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from assist.core.errors import ConfigError

T = TypeVar("T")
Check = Callable[[Any], str | None]
"""A value's own check: None when it is fine, else the reason ("" when `what` says it all)."""
Unknown = Literal["error", "ignore"]


@dataclass(frozen=True, slots=True)
class Spec:
    """What one key takes, beyond its type: bounds (of a number, or of a list's length),
    choices, a custom check (of each item, for a list), and the words for errors and docs."""

    lo: float | None = None
    hi: float | None = None
    choices: tuple[Any, ...] = ()
    what: str = ""  # the noun of "expected ...", e.g. "a port number" (default: from the type)
    unit: str = ""  # "seconds": "a number of seconds from 1 to 3600"
    check: Check | None = None
    doc: str = ""
    secret: bool = False  # never shown in an error or a repr


def key(
    default: Any = dataclasses.MISSING,
    *,
    lo: float | None = None,
    hi: float | None = None,
    choices: Iterable[Any] = (),
    what: str = "",
    unit: str = "",
    check: Check | None = None,
    doc: str = "",
    secret: bool = False,
) -> Any:
    """A dataclass field that is a key of its TOML table (no default: the key is required)."""
    spec = Spec(lo, hi, tuple(choices), what, unit, check, doc, secret)
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata={"key": spec}, repr=not secret)
    return dataclasses.field(default=default, metadata={"key": spec}, repr=not secret)


@dataclass(frozen=True, slots=True)
class _Key:
    name: str
    kind: type  # bool, int, float, str or tuple (of str)
    optional: bool
    required: bool
    spec: Spec


_KEYS: dict[type, dict[str, _Key]] = {}  # memo: a class's keys are read once


def keys_of(cls: type) -> dict[str, _Key]:
    """The declared keys of a table class, in declaration order."""
    known = _KEYS.get(cls)
    if known is not None:
        return known
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        spec = f.metadata.get("key")
        if spec is None:
            continue
        kind, choices, optional = _kind(hints[f.name])
        if choices and not spec.choices:
            spec = dataclasses.replace(spec, choices=choices)
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        out[f.name] = _Key(f.name, kind, optional, required, spec)
    _KEYS[cls] = out
    return out


def _kind(hint: Any) -> tuple[type, tuple[Any, ...], bool]:
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        (inner,) = (a for a in args if a is not type(None))
        kind, choices, _ = _kind(inner)
        return kind, choices, True
    if origin is Literal:
        return type(args[0]), args, False
    if origin is tuple and args == (str, ...):
        return tuple, (), False
    if hint in (bool, int, float, str):
        return hint, (), False
    raise TypeError(f"a table key cannot be of type {hint!r}")


def describe(k: _Key) -> str:
    """What a key takes, as the end of "expected ...": "a number of seconds from 1 to 3600"."""
    spec = k.spec
    if k.kind is bool:
        return "true or false"
    if spec.choices:
        return spec.what or "one of " + ", ".join(str(c) for c in spec.choices)
    if k.kind is tuple:
        noun = spec.what or "a list of strings"
        return noun + (f", at most {_num(spec.hi)}" if spec.hi is not None else "")
    if k.kind is str:
        return spec.what or "a string"
    noun = spec.what or ("an integer" if k.kind is int else "a number")
    if spec.unit:
        noun = f"{spec.what or ('a whole number' if k.kind is int else 'a number')} of {spec.unit}"
    if spec.lo is not None and spec.hi is not None:
        return f"{noun} from {_num(spec.lo)} to {_num(spec.hi)}"
    if spec.lo is not None:
        return f"{noun}, at least {_num(spec.lo)}"
    if spec.hi is not None:
        return f"{noun}, at most {_num(spec.hi)}"
    return noun


def value(k: _Key, where: str, raw: Any) -> Any:
    """`raw` checked against key `k` of table `where`, converted (int to float, list to tuple)."""
    if k.optional and raw is None:
        return None
    spec = k.spec
    if k.kind is bool:
        ok = isinstance(raw, bool)
    elif k.kind is int:
        ok = isinstance(raw, int) and not isinstance(raw, bool)
    elif k.kind is float:
        ok = isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw)
        raw = float(raw) if ok else raw
    elif k.kind is str:
        ok = isinstance(raw, str)
    else:
        ok = isinstance(raw, list | tuple) and all(isinstance(v, str) for v in raw)
        raw = tuple(raw) if ok else raw
    if not ok:
        raise _bad(k, where, raw)
    if k.kind is tuple:
        if spec.hi is not None and len(raw) > spec.hi:
            raise _bad(k, where, raw, f"{len(raw)} entries")
        for item in raw:
            reason = spec.check(item) if spec.check is not None else None
            if reason is not None:
                raise _bad(k, where, item, reason)
        return raw
    reason = spec.check(raw) if spec.check is not None else None
    if reason is not None:
        raise _bad(k, where, raw, reason)
    if k.kind in (int, float) and (
        (spec.lo is not None and raw < spec.lo) or (spec.hi is not None and raw > spec.hi)
    ):
        raise _bad(k, where, raw)
    if spec.choices and raw not in spec.choices:
        raise _bad(k, where, raw)
    return raw


def _bad(k: _Key, where: str, raw: Any, reason: str = "") -> ConfigError:
    if not k.spec.secret:
        got = f", got {raw!r}"
    elif isinstance(raw, str):
        got = f", got {len(raw)} characters (not shown)"
    else:
        got = f", got a value of type {type(raw).__name__} (not shown)"
    tail = f" ({reason})" if reason else ""
    return ConfigError(f"expected {describe(k)}{got}{tail}", key=_path(where, k.name))


def values(
    cls: type,
    table: Mapping[str, Any],
    *,
    where: str,
    unknown: Unknown = "error",
    extra: Iterable[str] = (),
    only: Iterable[str] | None = None,
) -> dict[str, Any]:
    """The declared keys of `table` checked and converted, as keyword arguments of `cls`.

    `only`: the declared keys this table takes (default: all); `extra`: keys the caller reads
    itself (nested tables). Any other key is an error, or skipped with `unknown="ignore"`. A
    required key that is absent is an error."""
    declared = keys_of(cls)
    if only is not None:
        declared = {name: declared[name] for name in only}
    known = set(declared) | set(extra)
    out: dict[str, Any] = {}
    for name, raw in table.items():
        k = declared.get(name)
        if k is not None:
            out[name] = value(k, where, raw)
        elif name not in known and unknown == "error":
            raise ConfigError(
                f"unknown key (known: {', '.join(sorted(known))})", key=_path(where, name)
            )
    for k in declared.values():
        if k.required and k.name not in out:
            doc = f" ({k.spec.doc})" if k.spec.doc else ""
            raise ConfigError(f"missing: expected {describe(k)}{doc}", key=_path(where, k.name))
    return out


def build(cls: type[T], table: Mapping[str, Any], *, where: str) -> T:
    """`cls` made from a parsed TOML table; every bad key is a ConfigError naming it."""
    return cls(**values(cls, table, where=where))


def check_fields(obj: object, where: str) -> None:
    """Check every declared key of a dataclass made directly, as `build` would (for
    `__post_init__`); converted values (an int for a float key) are stored back."""
    for k in keys_of(type(obj)).values():
        raw = getattr(obj, k.name)
        checked = value(k, where, raw)
        if checked is not raw:
            object.__setattr__(obj, k.name, checked)


def table_of(doc: Mapping[str, Any], name: str, *, required: str = "") -> dict[str, Any]:
    """The `[name]` table of a parsed file ({} if absent); `required`: why it must be there."""
    table = doc.get(name)
    if table is None:
        if required:
            raise ConfigError(f"missing [{name}] table ({required})", key=name)
        return {}
    if not isinstance(table, dict):
        raise ConfigError(f"expected a table ([{name}]), got {table!r}", key=name)
    return table


def rows_of(table: Mapping[str, Any], name: str, *, where: str) -> list[dict[str, Any]]:
    """The `[[where.name]]` array of tables of a table ([] if absent)."""
    rows = table.get(name, [])
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        path = _path(where, name)
        raise ConfigError(f"expected an array of tables ([[{path}]]), got {rows!r}", key=path)
    return rows


def check_tables(doc: Mapping[str, Any], known: Iterable[str]) -> None:
    """Every table of a config file is one this command reads."""
    names = sorted(known)
    for name in doc:
        if name not in names:
            raise ConfigError(f"unknown table (known: {', '.join(names)})", key=name)


def type_words(kinds: type | tuple[type, ...]) -> str:
    """`(int, float)` -> "a number": the words of "expected ..." for a plain type check."""
    names = {t.__name__ for t in (kinds if isinstance(kinds, tuple) else (kinds,))}
    if names >= {"int", "float"}:
        return "a number"
    words = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false",
             "list": "a list", "dict": "a table"}  # fmt: skip
    return " or ".join(words.get(n, n) for n in sorted(names))


def _path(where: str, name: str) -> str:
    """`sip` + `port` -> `sip.port`; a file's top-level keys have no table: `forbid`."""
    return f"{where}.{name}" if where else name


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)
