"""Typed, frozen dataclasses from plain mappings and back, with one-line errors.

:func:`from_dict` turns a nested mapping (parsed YAML, overrides) into the dataclass tree
of :mod:`vulnfusion.config`, checking every key against its annotation: unknown keys, wrong
types (``int``, ``float`` spelled any way people and DVC write it, ``bool``, ``Literal``,
``X | None``, tuples, mappings, nested sections) and values outside a field's declared
range (``metadata={"ge": lo, "le": hi}``) raise :class:`ConfigError` naming the dotted key.
:func:`to_dict` and :func:`flatten` go the other way (for MLflow params and manifests).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from vulnfusion.errors import VulnfusionError

T = TypeVar("T")


class ConfigError(VulnfusionError, ValueError):
    """A bad ``params.yaml`` value: the message is one line that names the key."""


def from_dict(cls: type[T], data: Any, prefix: str) -> T:
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys, bad types and ranges.

    Keys left out take the dataclass default; ``prefix`` (``"gnn.train."``) names keys in errors.
    Raises ``ConfigError`` with a one-line message naming the first bad key.
    """
    where = prefix.rstrip(".") or "params"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {_kind(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{prefix}{unknown[0]}: unknown key (allowed: {', '.join(sorted(fields))})"
        )
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{prefix}{name}"
        kwargs[name] = _coerce(hints[name], value, key)
        _check_range(fields[name], kwargs[name], key)
    return cls(**kwargs)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _allows_none(tp: Any) -> bool:
    return _is_union(tp) and type(None) in get_args(tp)


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = get_origin(tp)
    if value is None:
        # One meaning only: "no value", for keys typed X | None. A default is had by omission.
        if _allows_none(tp):
            return None
        raise ConfigError(f"{key}: null is not allowed here (leave the key out for the default)")
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, key + ".")  # type: ignore[arg-type]
    if _is_union(tp):
        inner = [a for a in get_args(tp) if a is not type(None)]
        return _coerce(inner[0], value, key)
    if origin is Literal:
        if value not in get_args(tp):
            allowed = ", ".join(str(a) for a in get_args(tp))
            raise ConfigError(f"{key}: {value!r} is not one of {allowed}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__}")
        return tuple(_coerce(get_args(tp)[0], v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (Mapping, dict) or tp is Mapping:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
        args = get_args(tp)
        if len(args) == 2:  # Mapping[K, V]: every key and value checked as its type
            return {
                _coerce(args[0], k, f"{key} key {k!r}"): _coerce(args[1], v, f"{key}.{k}")
                for k, v in value.items()
            }
        return dict(value)
    return _coerce_scalar(tp, value, key)


# A decimal float literal: 1, 1., .001, 0.0005, 1e-5, 1e-05, 5E-4, +2.5e+3 (no inf/nan/_).
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _coerce_scalar(tp: Any, value: Any, key: str) -> Any:
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        # YAML 1.1 (PyYAML) reads 1e-05, 5E-4 and 1e5 as strings, and DVC writes floats so.
        if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
            return float(value)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise ConfigError(f"{key}: expected a number, got {value!r}")  # value != value: NaN
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported config type {tp!r}")  # a bug in this module


def _check_range(f: dataclasses.Field[Any], value: Any, key: str) -> None:
    lo, hi = f.metadata.get("ge"), f.metadata.get("le")
    if lo is not None and value < lo:
        raise ConfigError(f"{key}: {value!r} is below the minimum {lo}")
    if hi is not None and value > hi:
        raise ConfigError(f"{key}: {value!r} is above the maximum {hi}")


def to_dict(cfg: Any) -> dict[str, Any]:
    """The resolved config as plain JSON-able data (for checkpoints and MLflow params)."""
    out = dataclasses.asdict(cfg)
    return typing.cast(dict[str, Any], _jsonable(out))


def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    return x


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}`` (for MLflow params)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out
