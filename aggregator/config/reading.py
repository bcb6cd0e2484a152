"""The typed readers of ``sources.yaml``'s nodes: each reads one value, checks it and,
when it is wrong, records the problem with its line and field in ``Ctx`` and goes on, so
that the operator sees every error of the file at once."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, TypeVar

import yaml

from ..errors import ConfigError

_LANG_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?\s*$")
_DURATION_UNITS = {None: 1, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}

T = TypeVar("T")


@dataclass
class Ctx:
    """Where problems are gathered: the whole file is checked, every problem reported at once."""

    file: str
    errors: list[ConfigError] = dataclass_field(default_factory=list)
    #: (mapping, key) pairs where an unknown key looks like that key: no "missing" error too.
    misspelled: set[tuple[int, str]] = dataclass_field(default_factory=set)

    def missing(self, node: yaml.Node, key: str, field: str, message: str) -> None:
        """A required key is absent, unless a misspelling of it was already reported."""
        if (id(node), key) not in self.misspelled:
            self.add(node, field, message)

    def error(self, node: yaml.Node | None, field: str, message: str) -> ConfigError:
        line = node.start_mark.line + 1 if node is not None else None
        return ConfigError(message, file=self.file, line=line, field=field)

    def add(self, node: yaml.Node | None, field: str, message: str) -> None:
        self.errors.append(self.error(node, field, message))

    def attempt(self, parse: Callable[[], T]) -> T | None:
        """``parse()``, or None with its error recorded: the next field is still checked."""
        try:
            return parse()
        except ConfigError as exc:
            self.errors.extend(exc.errors)
            return None


def read_mapping(ctx: Ctx, node: yaml.Node, field: str, allowed: set[str]) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """The keys of a mapping; unknown and duplicate keys are recorded (all of them) and left out."""
    if not isinstance(node, yaml.MappingNode):
        raise ctx.error(node, field, "expected a mapping of keys to values")
    out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(key, str):
            ctx.add(key_node, field, "keys must be plain strings")
            continue
        name = f"{field}.{key}" if field else key
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            ctx.add(key_node, name, f"unknown key ({hint}expected one of: {', '.join(sorted(allowed))})")
            if close:
                ctx.misspelled.add((id(node), close[0]))
        elif key in out:
            ctx.add(key_node, name, "duplicate key")
        else:
            out[key] = (key_node, value_node)
    return out


def read_scalar(ctx: Ctx, node: yaml.Node, field: str) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise ctx.error(node, field, "expected a single value")
    return yaml.safe_load(yaml.serialize(node))


def read_string(ctx: Ctx, node: yaml.Node, field: str) -> str:
    value = read_scalar(ctx, node, field)
    if not isinstance(value, str) or not value.strip():
        raise ctx.error(node, field, "expected a non-empty text")
    return value.strip()


def read_bool(ctx: Ctx, node: yaml.Node, field: str) -> bool:
    value = read_scalar(ctx, node, field)
    if not isinstance(value, bool):
        raise ctx.error(node, field, "expected true/false (or on/off)")
    return value


def read_number(ctx: Ctx, node: yaml.Node, field: str, *, minimum: float = 0) -> float:
    value = read_scalar(ctx, node, field)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ctx.error(node, field, "expected a number")
    if value < minimum:
        raise ctx.error(node, field, f"must be at least {minimum}")
    return float(value)


def read_duration(ctx: Ctx, node: yaml.Node, field: str) -> float:
    """Seconds from ``300``, ``"5m"``, ``"24h"`` or ``"2d"``."""
    value = read_scalar(ctx, node, field)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION_RE.match(value)):
        seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    else:
        raise ctx.error(node, field, "expected a duration such as 300, 5m, 24h or 2d")
    if seconds <= 0:
        raise ctx.error(node, field, "must be positive")
    return seconds


def parse_duration(text: str) -> float | None:
    """Seconds from ``300``, ``5m``, ``6h`` or ``2d`` (the configuration's durations), else None."""
    m = _DURATION_RE.match(text)
    if m is None:
        return None
    seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    return seconds if seconds > 0 else None


def read_url(ctx: Ctx, node: yaml.Node, field: str) -> str:
    value = read_string(ctx, node, field)
    if not re.match(r"^https?://[^\s/]+", value):
        raise ctx.error(node, field, "expected an http:// or https:// URL")
    return value


def read_string_list(ctx: Ctx, node: yaml.Node, field: str) -> tuple[str, ...]:
    """A list of words; one word written alone (``tags: lyon``) is a list of one.

    A single text holding commas (``tags: lyon, luttes``) is refused rather than guessed:
    it says to write a list.
    """
    if isinstance(node, yaml.ScalarNode):
        value = read_string(ctx, node, field)
        if "," in value:
            raise ctx.error(node, field, f"write several values as a list: [{', '.join(v.strip() for v in value.split(','))}]")
        return (value,)
    if not isinstance(node, yaml.SequenceNode):
        raise ctx.error(node, field, "expected a list")
    return tuple(read_string(ctx, item, field) for item in node.value)


def read_language(ctx: Ctx, node: yaml.Node, field: str) -> str:
    value = read_string(ctx, node, field).lower()
    if not _LANG_RE.match(value):
        raise ctx.error(node, field, "expected a language code such as fr, en or de")
    return value
