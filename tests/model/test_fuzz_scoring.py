"""Fuzzing the path a served request takes: validation → graph building → tokenization →
the seed ensemble. Whatever the text, the outcome is a clear ``InputError`` or finite
probabilities in [0, 1] for every row — never a crash, a NaN, a silent 0, or a hang.

Time is bounded by construction (inputs over ``register.max_chars`` are refused, only
``featurize.max_chars`` characters are parsed, graphs stop at ``featurize.max_nodes``);
the caps below check that pathological inputs stay far inside it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vulnfusion.graphs import build_graph
from vulnfusion.serving import EnsembleScorer, InputError, validate_frame

pytestmark = pytest.mark.reliability

PER_FUNCTION_CAP_S = 5.0  # generous: the worst case below takes ~0.2 s here

PATHOLOGICAL = {
    "deep_parens": "int f(){return " + "(" * 50_000 + "1" + ")" * 50_000 + ";}",
    "deep_blocks": "void f(){" + "{" * 20_000 + "}" * 20_000 + "}",
    "deep_if_chain": "void f(int x){" + "if(x)" * 20_000 + "x++;}",
    "long_expression": "int f(){return " + "+".join(["a"] * 50_000) + ";}",
    "punctuation_soup": "}{)(][;;" * 10_000,
    "goto_ladder": "void f(){" + "".join(f"l{i}: goto l{i + 1};" for i in range(5_000)) + "}",
    "huge_switch": "void f(int x){switch(x){"
    + "".join(f"case {i}:" for i in range(20_000))
    + "break;}}",
    "macro_storm": "#define A(x) x\n" * 5_000 + "int f(){return A(A(A(1)));}",
    "one_long_identifier": "int f(){return " + "a" * 99_000 + ";}",
}


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_graph_builder_stays_under_the_time_cap(name: str, reliability: object) -> None:
    start = time.perf_counter()
    g = build_graph(PATHOLOGICAL[name], max_nodes=2000, max_chars=100_000)
    took = time.perf_counter() - start
    assert took < PER_FUNCTION_CAP_S
    assert 1 <= g.num_nodes <= 2000
    reliability(
        f"graph builder on pathological input `{name}` ({len(PATHOLOGICAL[name]):,} chars)",
        f"built in {took:.2f} s (cap {PER_FUNCTION_CAP_S:.0f} s), {g.num_nodes} nodes, "
        f"parse error={g.has_error}, fallback={g.fallback}",
    )


@pytest.fixture(scope="module")
def scorer(trained_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> EnsembleScorer:
    from vulnfusion.config import load_config
    from vulnfusion.io import read_json
    from vulnfusion.registry import build_bundle

    ws = trained_workspace
    bundle = build_bundle(
        load_config(ws / "params.yaml"),
        ws / "outputs/fusion",
        ws / "data/features",
        read_json(ws / "outputs/fusion/ensemble_metrics.json"),
        tmp_path_factory.mktemp("fuzz") / "bundle",
    )
    return EnsembleScorer(bundle)


C_PIECES = [
    "int f(int a, char *p) {", "}", "{", "if (a)", "else", "while (a--)", "for (;;)",
    "switch (a) {", "case 1:", "break;", "return a;", "goto L;", "L:", "x = a + 1;",
    "memcpy(p, q, n);", "char b[16];", '"%s"', "0x1f", "/* c */", "#ifdef X", "#endif",
    "(", ")", ";", "\n", "\x00", "\ud800", "é", "\t", "MACRO(a, b)",
]  # fmt: skip

functions = st.lists(st.one_of(st.sampled_from(C_PIECES), st.text(max_size=6)), max_size=30).map(
    " ".join
)


def _check(scorer: EnsembleScorer, funcs: list[object]) -> None:
    # object dtype: pandas 3 strings (pyarrow) cannot even hold a lone surrogate
    frame = pd.DataFrame({"func": pd.Series(funcs, dtype=object)})
    start = time.perf_counter()
    try:
        valid = validate_frame(frame, scorer.spec)
    except InputError as exc:
        msg = str(exc)
        # one line: "no rows to score", or "<k> row(s) rejected, nothing scored: row <i>: …"
        assert "\n" not in msg and re.match(
            r"no rows|\d+ (of \d+ )?rows? rejected, nothing scored: row \d+: ", msg
        ), msg
        return
    prob, label = scorer.score(valid)
    assert time.perf_counter() - start < PER_FUNCTION_CAP_S * max(len(valid), 1)
    assert prob.shape == label.shape == (len(funcs),)
    assert np.isfinite(prob).all() and ((prob >= 0) & (prob <= 1)).all()
    assert (label == (prob >= scorer.spec.threshold)).all()


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(funcs=st.lists(functions, min_size=1, max_size=6))
def test_scoring_path_on_arbitrary_text(
    scorer: EnsembleScorer, funcs: list[str], reliability: object
) -> None:
    _check(scorer, list(funcs))
    reliability(
        "hypothesis fuzz of the scoring path: C token soup, arbitrary unicode, NUL, "
        "lone surrogates (40 generated requests)",
        "each refused with a one-line InputError naming the row, or scored with finite "
        "probabilities in [0, 1]; no crash, no NaN, no hang",
    )


@settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    values=st.lists(
        st.one_of(st.none(), st.integers(), st.floats(), st.binary(max_size=8), functions),
        min_size=1,
        max_size=4,
    )
)
def test_scoring_path_on_mixed_types(
    scorer: EnsembleScorer, values: list[object], reliability: object
) -> None:
    _check(scorer, values)
    reliability(
        "hypothesis fuzz of the scoring path: None/int/float/bytes cells mixed with "
        "code (15 generated requests)",
        "each refused with a one-line InputError naming the row, or scored",
    )


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_pathological_functions_are_scored_or_refused(
    scorer: EnsembleScorer, name: str, reliability: object
) -> None:
    start = time.perf_counter()
    _check(scorer, [PATHOLOGICAL[name]])
    reliability(
        f"served model scoring pathological input `{name}`",
        f"scored or refused cleanly in {time.perf_counter() - start:.2f} s",
    )
