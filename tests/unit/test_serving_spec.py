"""The served model's spec (``serving.json``): one class writes and reads it; a bad file
stops with one line naming the file and the key."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from vulnfusion.serving import (
    DEFAULT_MAX_REQUEST_CHARS,
    SPEC_VERSION,
    InputError,
    ServingSpec,
    ServingSpecError,
    validate_frame,
)

SPEC = ServingSpec(
    threshold=0.43,
    max_length=256,
    max_nodes=2000,
    max_chars_parse=100_000,
    max_input_chars=200_000,
    max_rows=2_000,
    seeds=(0, 1, 2),
    test={"roc_auc": 0.7},
)


def test_round_trip_is_exact(tmp_path: Path) -> None:
    path = SPEC.to_json(tmp_path / "serving.json")
    assert ServingSpec.from_json(path) == SPEC
    data = json.loads(path.read_text())
    assert data["format_version"] == SPEC_VERSION == 1
    assert data["seeds"] == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["serving.json"]  # written atomically


def test_a_file_from_before_the_version_field_reads_as_version_1(tmp_path: Path) -> None:
    data = json.loads(SPEC.to_json(tmp_path / "serving.json").read_text())
    del data["format_version"]
    (tmp_path / "serving.json").write_text(json.dumps(data))
    assert ServingSpec.from_json(tmp_path / "serving.json") == SPEC


def _written(tmp_path: Path, change: dict[str, Any], drop: str | None = None) -> Path:
    data = json.loads(SPEC.to_json(tmp_path / "serving.json").read_text()) | change
    if drop:
        del data[drop]
    (tmp_path / "serving.json").write_text(json.dumps(data))
    return tmp_path / "serving.json"


@pytest.mark.parametrize(
    ("change", "drop", "message"),
    [
        ({}, "max_rows", "missing key 'max_rows'"),
        ({}, "threshold", "missing key 'threshold'"),
        ({"max_rows": 0}, None, "'max_rows' must be a positive integer, got 0"),
        ({"max_rows": "2000"}, None, "'max_rows' must be a positive integer, got '2000'"),
        ({"max_length": True}, None, "'max_length' must be a positive integer, got True"),
        ({"max_tokens": 0}, None, "'max_tokens' must be a positive integer, got 0"),
        (
            {"normalize_identifiers": "yes"},
            None,
            "'normalize_identifiers' must be true or false, got 'yes'",
        ),
        ({"dataflow_features": 1}, None, "'dataflow_features' must be true or false, got 1"),
        ({"max_tokens": 255}, None, "'max_tokens' (255) must be at least 'max_length' (256)"),
        ({"threshold": 1.5}, None, "'threshold' must be a number in [0, 1], got 1.5"),
        ({"seeds": []}, None, "'seeds' must be a non-empty list of integers, got []"),
        ({"seeds": [0, "1"]}, None, "'seeds' must be a non-empty list of integers, got [0, '1']"),
        ({"format_version": 2}, None, "format_version 2 is not supported (expected 1)"),
    ],
)
def test_bad_spec_names_file_and_key(
    tmp_path: Path, change: dict[str, Any], drop: str | None, message: str
) -> None:
    path = _written(tmp_path, change, drop)
    with pytest.raises(ServingSpecError) as err:
        ServingSpec.from_json(path)
    assert str(err.value) == f"{path}: {message}"


def test_unreadable_spec_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "serving.json"
    with pytest.raises(ServingSpecError, match=r"serving.json: cannot read the serving spec"):
        ServingSpec.from_json(path)
    path.write_text("{not json")
    with pytest.raises(ServingSpecError) as err:
        ServingSpec.from_json(path)
    assert str(err.value).startswith(f"{path}: cannot read the serving spec: Expecting")
    assert "\n" not in str(err.value)
    path.write_text("[1, 2]")
    with pytest.raises(ServingSpecError, match=r"expected a JSON object, got list$"):
        ServingSpec.from_json(path)


def test_an_over_limit_request_is_refused_before_any_row_is_read() -> None:
    """The row count is checked first: row 0 here is invalid, yet the error is the limit's."""
    import pandas as pd

    from vulnfusion.serving import InputError, validate_frame

    frame = pd.DataFrame({"func": [""] + ["int f(void) { return 0; }"] * SPEC.max_rows})
    with pytest.raises(InputError) as err:
        validate_frame(frame, SPEC)
    assert str(err.value) == (
        "2001 rows exceed the limit of 2000 rows per request (register.max_rows); split the request"
    )
    at_limit = validate_frame(frame.iloc[1:], SPEC)
    assert len(at_limit) == SPEC.max_rows


def test_overlapping_single_threaded_blocks_restore_the_thread_count() -> None:
    """Two requests overlapping (A enters, B enters, A leaves, B leaves) on server threads."""
    import threading

    import torch

    from vulnfusion.serving import single_threaded_torch

    before = torch.get_num_threads()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[int] = []

    def request_a() -> None:
        with single_threaded_torch():
            a_in.set()
            b_in.wait(10)
        a_out.set()

    def request_b() -> None:
        a_in.wait(10)
        with single_threaded_torch():
            b_in.set()
            a_out.wait(10)
            seen.append(torch.get_num_threads())  # A has left: still one thread for B

    threads = [threading.Thread(target=request_a), threading.Thread(target=request_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert seen == [1]
    assert torch.get_num_threads() == before


def _spec() -> ServingSpec:
    return ServingSpec(
        threshold=0.5,
        max_length=64,
        max_nodes=100,
        max_chars_parse=1000,
        max_input_chars=100,
        max_rows=100,
        seeds=(0,),
    )


def test_every_bad_row_is_named_and_the_list_is_capped() -> None:
    import pandas as pd

    from vulnfusion.serving import InputError, validate_frame

    funcs = ["int f(void) { return 0; }"] * 20
    funcs[2] = ""
    funcs[5] = 7  # type: ignore[call-overload]
    funcs[6] = "x" * 101
    funcs[8] = "int f(void) return 0;"
    funcs[9] = "{ return 0; }"
    with pytest.raises(InputError) as err:
        validate_frame(pd.DataFrame({"func": funcs}), _spec())
    assert str(err.value) == (
        "5 of 20 rows rejected, nothing scored: row 2: 'func' is empty; "
        "row 5: 'func' must be a string, got int; "
        "row 6: function has 101 characters once line endings are normalised, above the "
        "limit of 100; "
        "row 8: no function body (no '{' found); row 9: no function body (no '(' found)"
    )
    many = [""] * 13
    with pytest.raises(InputError) as err:
        validate_frame(pd.DataFrame({"func": many}), _spec())
    assert str(err.value).endswith("row 9: 'func' is empty; and 3 more")
    assert str(err.value).startswith("13 of 13 rows rejected, nothing scored: row 0:")


def test_good_rows_come_back_normalised() -> None:
    import pandas as pd

    from vulnfusion.serving import validate_frame

    out = validate_frame(pd.DataFrame({"func": ["int f(void)\r\n{ return 0; }"]}), _spec())
    assert out == ["int f(void)\n{ return 0; }"]


def test_a_request_over_the_character_budget_is_refused_before_any_row_check() -> None:
    """max_rows alone lets 1,000 functions of max_chars each through, far past the server's
    timeout; the request's total characters are capped too (register.max_request_chars)."""
    import pandas as pd

    spec = dataclasses.replace(_spec(), max_request_chars=250)
    ok = "int f(void) { return 0; }"  # 25 characters
    assert validate_frame(pd.DataFrame({"func": [ok] * 10}), spec) == [ok] * 10
    with pytest.raises(InputError) as err:
        # the bad first row is not reported: the budget check comes first and costs nothing
        validate_frame(pd.DataFrame({"func": ["", *[ok] * 10, "x"]}), spec)
    assert str(err.value) == (
        "251 characters in 12 rows exceed the limit of 250 characters per request "
        "(register.max_request_chars); split the request"
    )


def test_a_spec_written_before_the_character_budget_loads_with_the_default(tmp_path: Path) -> None:
    path = SPEC.to_json(tmp_path / "serving.json")
    data = json.loads(path.read_text())
    del data["max_request_chars"]
    path.write_text(json.dumps(data))
    assert ServingSpec.from_json(path) == SPEC
    assert SPEC.max_request_chars == DEFAULT_MAX_REQUEST_CHARS == 2_000_000


def test_a_spec_written_before_windows_reads_the_head_only(tmp_path: Path) -> None:
    """No ``max_tokens``: the bundle's functions are encoded to ``max_length`` tokens."""
    path = SPEC.to_json(tmp_path / "serving.json")
    data = json.loads(path.read_text())
    assert data["max_tokens"] == 256  # written out whole, never as 0
    del data["max_tokens"]
    path.write_text(json.dumps(data))
    assert ServingSpec.from_json(path).max_tokens == 256
    windowed = dataclasses.replace(SPEC, max_tokens=640)
    assert ServingSpec.from_json(windowed.to_json(tmp_path / "w.json")).max_tokens == 640


def test_a_spec_written_before_the_feature_options_reads_them_off(tmp_path: Path) -> None:
    path = SPEC.to_json(tmp_path / "serving.json")
    data = json.loads(path.read_text())
    assert (data["normalize_identifiers"], data["dataflow_features"]) == (False, False)
    del data["normalize_identifiers"], data["dataflow_features"]
    path.write_text(json.dumps(data))
    assert ServingSpec.from_json(path) == SPEC
