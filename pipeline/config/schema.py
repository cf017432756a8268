"""Declare config keys once (type, default, one-line help, check) and validate TOML against them.

Every option table (workspace config, profile sections, sidecars) is a frozen dataclass whose
fields carry their help text and an optional check. `load_table` validates a whole TOML table,
collecting every problem with file, section, key, what is wrong and how to fix it (mkdocs'
config classes; sharp's "Expected positive integer for width but received ...").
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

Check = Callable[[Any], str | None]


def key(default: Any, help: str, *, check: Check | None = None, example: str = "") -> Any:
    """A config key: its default, one-line help for the docs, an optional extra check.

    `check(value)` returns None when fine or a sentence saying what is wrong. `example` is shown
    in the "Fix:" line of an error.
    """
    meta = {"help": help, "check": check, "example": example}
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def positive(value: Any) -> str | None:
    items = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]
    if any(v <= 0 for v in items):
        return "must be positive" if not isinstance(value, list | dict) else "every value must be positive"
    return None


def between(lo: float, hi: float) -> Check:
    def check(value: Any) -> str | None:
        items = value if isinstance(value, list) else [value]
        if any(not lo <= v <= hi for v in items):
            return f"must be between {lo:g} and {hi:g}"
        return None

    return check


_ASPECT = re.compile(r"^(original|\d{1,4}:\d{1,4})$")


_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
# A CSS font-family list: names, quotes, commas, spaces, hyphens. Nothing that can end the
# declaration or the <style> element (house styles go into CSS), and no url(): web fonts are
# files a banner may not load and a page would fetch from elsewhere.
_FONTS = re.compile(r"^[A-Za-z0-9 ,'\"_-]{1,200}$")


def colour(value: str) -> str | None:
    return None if _COLOUR.match(value) else "must be a #rrggbb colour"


def font_list(value: str) -> str | None:
    return (
        None
        if _FONTS.match(value)
        else ("must be a CSS font-family list (letters, digits, spaces, commas, quotes, hyphens; no web fonts)")
    )


def aspects(value: list[str]) -> str | None:
    if not value:
        return 'names no aspect ratio: give at least one, e.g. ["original"]'
    bad = [v for v in value if not _ASPECT.match(v) or v.startswith("0") or ":0" in v]
    if bad:
        return f'{bad[0]!r} is not an aspect ratio like "16:9" or "original"'
    return None


def parse_aspect(text: str) -> float | None:
    """'16:9' -> 1.777..., 'original' -> None."""
    if text == "original":
        return None
    w, h = text.split(":")
    return int(w) / int(h)


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin is list:
        inner = get_args(tp)[0]
        if get_origin(inner) is Literal:
            return "a list from " + ", ".join(repr(a) for a in get_args(inner))
        return f"a list of {_describe(inner)}s"
    if origin is dict:
        return f"a table of {_describe(get_args(tp)[1])}s"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in get_args(tp) if a is not type(None))
    if origin is tuple:  # the generated tables said "tuple[float, float]" (#17)
        args = get_args(tp)
        if len(set(args)) == 1:
            return f"a list of {len(args)} {_describe(args[0])}s"
        return "a list of " + ", ".join(_describe(a) for a in args)
    if dataclasses.is_dataclass(tp):  # ... and "<class 'pipeline.config.Limits'>"
        return getattr(tp, "DOC_TYPE", "table")
    return {int: "whole number", float: "number", bool: "true/false", str: "text"}.get(tp, str(tp))


def _conforms(value: Any, tp: Any) -> bool:
    origin = get_origin(tp)
    if tp is Any:
        return True
    if origin is Literal:
        return value in get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, a) for a in get_args(tp))
    if tp is type(None):
        return value is None
    if origin is list:
        return isinstance(value, list) and all(_conforms(v, get_args(tp)[0]) for v in value)
    if origin is tuple:
        args = get_args(tp)
        return (
            isinstance(value, list | tuple)
            and len(value) == len(args)
            and all(_conforms(v, a) for v, a in zip(value, args, strict=True))
        )
    if origin is dict:
        kt, vt = get_args(tp)
        return isinstance(value, dict) and all(_conforms(k, kt) and _conforms(v, vt) for k, v in value.items())
    if tp is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if dataclasses.is_dataclass(tp):
        return isinstance(value, dict)
    return isinstance(value, tp)


def _toml_repr(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_repr(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_repr(v)}" for k, v in value.items()) + "}"
    return repr(value)


def problem(source: Path | str, section: str, name: str, value: Any, what: str, fix: str) -> str:
    where = f"[{section}] " if section else ""
    shown = f" = {_toml_repr(value)}" if value is not dataclasses.MISSING else ""
    return f"error: {source} {where}{name}{shown}\n  {what}\n  Fix: {fix}"


def load_table(cls: type, table: dict, source: Path | str, section: str, problems: list[str]) -> Any:
    """Validate `table` against dataclass `cls`; append problems; return an instance or None.

    Unknown keys are errors (with a did-you-mean), wrong types are errors, and each key's own
    check runs. Nested dataclass fields are validated as sub-tables.
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    before = len(problems)
    for name in table:
        if name not in fields:
            close = _closest(name, fields)
            hint = f"did you mean {close!r}? " if close else ""
            known = ", ".join(sorted(fields))
            problems.append(
                problem(
                    source,
                    section,
                    name,
                    table[name],
                    f"unknown key; {hint}known keys: {known}.",
                    f"rename or delete the line{f' (e.g. {close} = ...)' if close else ''}.",
                )
            )
    values = {}
    for name, f in fields.items():
        if name not in table:
            continue
        value, tp = table[name], hints[name]
        nested = _dataclass_of(tp)
        if nested is not None and isinstance(value, dict):
            sub = load_table(nested, value, source, f"{section}.{name}" if section else name, problems)
            values[name] = sub
            continue
        example = f.metadata.get("example") or _example(f)
        if not _conforms(value, tp):
            problems.append(
                problem(
                    source,
                    section,
                    name,
                    value,
                    f"{name} must be {_describe(tp)}.",
                    f"e.g. {name} = {example}, or delete the line to use the default.",
                )
            )
            continue
        check = f.metadata.get("check")
        what = check(value) if check else None
        if what:
            problems.append(
                problem(
                    source,
                    section,
                    name,
                    value,
                    f"{name} {what}.",
                    f"e.g. {name} = {example}, or delete the line to use the default.",
                )
            )
            continue
        values[name] = tuple(value) if get_origin(tp) is tuple else value
    if len(problems) > before:
        return None
    return cls(**values)


def _dataclass_of(tp: Any) -> type | None:
    """The options class of a sub-table key: `Trim`, or `Trim | None` (an optional table)."""
    if dataclasses.is_dataclass(tp):
        return tp
    if get_origin(tp) in (typing.Union, types.UnionType):
        found = [a for a in get_args(tp) if dataclasses.is_dataclass(a)]
        return found[0] if len(found) == 1 else None
    return None


def _example(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        return _toml_repr(f.default)
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return _toml_repr(f.default_factory())  # type: ignore[misc]
    return "..."


def _closest(name: str, options) -> str | None:
    import difflib

    match = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return match[0] if match else None


def describe_fields(cls: type) -> list[tuple[str, str, str, str]]:
    """(key, type, default, help) rows for the docs and the docs test."""
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        if not f.init or "help" not in f.metadata:
            continue
        default = _example(f)
        if dataclasses.is_dataclass(hints[f.name]):
            default = "(table)"
        rows.append((f.name, _describe(hints[f.name]), default, f.metadata["help"]))
    return rows


def key_table(cls: type, prefix: str = "") -> str:
    """A Markdown table of a config class's keys, for the generated reference in docs/."""
    rows = ["| key | type | default | what it does |", "| --- | --- | --- | --- |"]
    for name, kind, default, text in describe_fields(cls):
        rows.append(f"| `{prefix}{name}` | {kind} | `{default}` | {text.replace('|', '/')} |")
    return "\n".join(rows) + "\n"
