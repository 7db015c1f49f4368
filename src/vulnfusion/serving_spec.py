"""The served model's spec, ``serving.json``: one class writes it (the ``register`` stage)
and reads it (the scorer), with one-line errors naming the file and the key.

Older bundles stay readable: a key added later (``max_request_chars``, ``temperature``,
``max_tokens``, ``normalize_identifiers``, ``dataflow_features``) takes the value that
reproduces how the bundle was trained.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vulnfusion.errors import VulnfusionError

SPEC_FILE = "serving.json"
SPEC_VERSION = 1


# 2 M characters: twice 1,000 median-length Devign functions; graph building parses ~600 k
# characters/s per core (measured on Devign), so the text alone costs seconds, not minutes
DEFAULT_MAX_REQUEST_CHARS = 2_000_000


class ServingSpecError(VulnfusionError, ValueError):
    """A model directory's ``serving.json`` is missing, unreadable or has a bad key."""


@dataclass(frozen=True)
class ServingSpec:
    """Everything the served model needs besides its weights, as ``serving.json`` in the bundle.

    Written by the ``register`` stage (:func:`vulnfusion.registry.build_bundle`) and read by
    :class:`EnsembleScorer`, both through this class. Limits are per request (rows) and per
    function (characters); the graph and token caps are the values the seeds were trained with.
    """

    threshold: float  # label 1 iff probability >= threshold (chosen on valid, calibrated scale)
    max_length: int  # tokens per function, special tokens included (transformer.max_length)
    max_nodes: int  # graph nodes per function (featurize.max_nodes)
    max_chars_parse: int  # characters of a function the graph builder parses
    max_input_chars: int  # a longer function is refused (register.max_chars)
    max_rows: int  # a request with more rows is refused at once (register.max_rows)
    seeds: tuple[int, ...]  # checkpoints under seeds/seed_<s>/, averaged in logit space
    # characters per request, all rows together (register.max_request_chars): graph building
    # and tokenization grow with the text, so many long functions can pass max_rows and still
    # outlast the server's timeout
    max_request_chars: int = DEFAULT_MAX_REQUEST_CHARS
    test: dict[str, Any] = field(default_factory=dict)  # the ensemble's test block (for people)
    format_version: int = SPEC_VERSION
    # probability = sigmoid(mean_logit / temperature), fitted on valid by the aggregate stage;
    # a bundle written before calibration existed has none, i.e. 1.0 (uncalibrated)
    temperature: float = 1.0
    # how ``threshold`` was chosen (for people): policy, target, policy_met, valid_fpr/recall
    threshold_policy: dict[str, Any] = field(default_factory=dict)
    # tokens kept per function, special tokens included (transformer.max_tokens: max_length
    # plus a stride per further window); unset (0), as in a bundle written before windows
    # existed, it is max_length
    max_tokens: int = 0
    # featurize.normalize_identifiers: rename parameters/locals before scoring (False in a
    # bundle written before the option existed)
    normalize_identifiers: bool = False
    # featurize.dataflow_features: graphs carry abstract data-flow nodes (False: older bundle)
    dataflow_features: bool = False

    def __post_init__(self) -> None:
        if not self.max_tokens:
            object.__setattr__(self, "max_tokens", self.max_length)

    def to_json(self, path: Path) -> Path:
        """Write the spec atomically to ``path`` (a JSON object, one key per field)."""
        from vulnfusion.io import write_json

        data = asdict(self)
        data["seeds"] = list(self.seeds)
        return write_json(path, data)

    @classmethod
    def from_json(cls, path: Path) -> ServingSpec:
        """Read ``path``; ``ServingSpecError`` (one line naming the file and key) if it is bad.

        A file without ``format_version`` is version 1: it was written before the field
        existed, with the same keys.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ServingSpecError(f"{path}: cannot read the serving spec: {exc}") from None
        if not isinstance(data, dict):
            raise ServingSpecError(f"{path}: expected a JSON object, got {type(data).__name__}")
        version = data.get("format_version", 1)
        if version != SPEC_VERSION:
            raise ServingSpecError(
                f"{path}: format_version {version!r} is not supported (expected {SPEC_VERSION})"
            )
        try:
            return cls(
                threshold=_probability(data, "threshold"),
                max_length=_positive_int(data, "max_length"),
                max_nodes=_positive_int(data, "max_nodes"),
                max_chars_parse=_positive_int(data, "max_chars_parse"),
                max_input_chars=_positive_int(data, "max_input_chars"),
                max_rows=_positive_int(data, "max_rows"),
                seeds=_seeds(data),
                # a bundle written before this limit existed gets today's default
                max_request_chars=_positive_int(
                    {"max_request_chars": DEFAULT_MAX_REQUEST_CHARS, **data}, "max_request_chars"
                ),
                test=dict(data.get("test") or {}),
                temperature=_temperature(data),
                threshold_policy=dict(data.get("threshold_policy") or {}),
                max_tokens=_max_tokens(data),
                normalize_identifiers=_flag(data, "normalize_identifiers"),
                dataflow_features=_flag(data, "dataflow_features"),
            )
        except ServingSpecError as exc:
            raise ServingSpecError(f"{path}: {exc}") from None


def _field(data: dict[str, Any], key: str) -> Any:
    if key not in data:
        raise ServingSpecError(f"missing key '{key}'")
    return data[key]


def _positive_int(data: dict[str, Any], key: str) -> int:
    value = _field(data, key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ServingSpecError(f"'{key}' must be a positive integer, got {value!r}")
    return value


def _flag(data: dict[str, Any], key: str) -> bool:
    """A boolean key; absent (an older bundle) it is ``False``."""
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise ServingSpecError(f"'{key}' must be true or false, got {value!r}")
    return value


def _max_tokens(data: dict[str, Any]) -> int:
    """``max_tokens``, at least ``max_length``; absent (a bundle from before windows) it is
    ``max_length``."""
    if "max_tokens" not in data:
        return _positive_int(data, "max_length")
    value = _positive_int(data, "max_tokens")
    if value < _positive_int(data, "max_length"):
        raise ServingSpecError(
            f"'max_tokens' ({value}) must be at least 'max_length' ({data['max_length']})"
        )
    return value


def _probability(data: dict[str, Any], key: str) -> float:
    value = _field(data, key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ServingSpecError(f"'{key}' must be a number in [0, 1], got {value!r}")
    return float(value)


def _temperature(data: dict[str, Any]) -> float:
    value = data.get("temperature", 1.0)
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not np.isfinite(value) or value <= 0:
        raise ServingSpecError(f"'temperature' must be a finite number > 0, got {value!r}")
    return float(value)


def _seeds(data: dict[str, Any]) -> tuple[int, ...]:
    value = _field(data, "seeds")
    if (
        not isinstance(value, list)
        or not value
        or any(isinstance(s, bool) or not isinstance(s, int) for s in value)
    ):
        raise ServingSpecError(f"'seeds' must be a non-empty list of integers, got {value!r}")
    return tuple(value)
