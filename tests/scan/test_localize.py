"""Line-level localisation: the metrics on hand-made rankings, the floors, the attribution
through the real tiny registered model, the pyfunc's ``top_lines`` parameter and the lines
``scan`` writes into SARIF ``relatedLocations``, read back by sarif-tools."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from vulnfusion.data.demo import generate_demo
from vulnfusion.localization.attribution import (
    blank_line,
    gxi_token_scores,
    line_scores,
    occlusion_scores,
    token_spans,
    top_lines,
)
from vulnfusion.localization.evaluate import evaluate_localization, floors
from vulnfusion.localization.lines import (
    candidate_lines,
    keyword_ranking,
    rank,
    spans_to_lines,
)
from vulnfusion.localization.metrics import (
    hit_at,
    ifa,
    random_expected_ifa,
    random_hit_probability,
    summarize,
)
from vulnfusion.scan.engine import ScanOptions, run_scan
from vulnfusion.scan.extract import extract_functions
from vulnfusion.scan.sarif import build_sarif

SARIF_BIN = Path(sys.executable).parent / "sarif"

FUNC = """\
int copy(char *dst, const char *src, int n)
{
    char buf[16];

    if (n < 0)
        return -1;
    memcpy(buf, src, n);
    free(dst);
    return buf[0];
}
"""


# ------------------------------------------------------------------ metrics, exact values
def test_ifa_and_top_k_on_hand_made_rankings() -> None:
    assert ifa([3, 7, 1], {3}) == 0
    assert ifa([5, 2, 9, 7], {7, 9}) == 2
    assert ifa([1, 2], {8}) == 2  # never found: every line was a false alarm
    with pytest.raises(ValueError):
        ifa([1], set())
    assert hit_at([4, 5, 6], {6}, 3) and not hit_at([4, 5, 6], {6}, 2)
    s = summarize([[1, 2, 3], [3, 2, 1], [2, 3, 1]], [{3}, {3}, {1}], k=2)
    assert s == {
        "functions": 3,
        "top1_accuracy": round(1 / 3, 4),
        "top2_accuracy": round(1 / 3, 4),
        "top5_accuracy": 1.0,
        "ifa_mean": round((2 + 0 + 2) / 3, 4),
        "ifa_median": 2.0,
    }


def test_random_floor_closed_forms() -> None:
    assert random_hit_probability(10, 2, 3) == pytest.approx(1 - 56 / 120)
    assert random_hit_probability(5, 1, 10) == 1.0
    assert random_expected_ifa(10, 2) == pytest.approx(8 / 3)
    # the closed forms against 20,000 seeded shuffles
    rng = np.random.default_rng(0)
    flawed = {0, 1}
    perms = [rng.permutation(10).tolist() for _ in range(20_000)]
    assert np.mean([ifa(p, flawed) for p in perms]) == pytest.approx(8 / 3, abs=0.05)
    assert np.mean([hit_at(p, flawed, 3) for p in perms]) == pytest.approx(1 - 56 / 120, abs=0.01)


def test_lines_keyword_floor_and_token_mapping() -> None:
    # statements only: no signature (1), no lone brace (2, 10), no blank line (4)
    assert candidate_lines(FUNC) == [3, 5, 6, 7, 8, 9]
    # memcpy (7), free (8), buf[16] (3) and buf[0] (9) first, in source order
    assert keyword_ranking(FUNC) == [3, 7, 8, 9, 5, 6]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("int f(void) { return 0; }\n", [1]),  # body on the signature line
        ("static int\nf(int a,\n  int b) {\n  return a;\n}\n", [4]),  # multi-line header
        ("int f(void)\n{ x = 1;\n  y();\n}\n", [2, 3]),  # code after the opening brace
        ("int f(a)\nint a;\n{\n  if (a) {\n    g();\n  }\n  });\n}\n", [4, 5]),  # K&R
        ("#define X 1\n", []),  # no body at all
        ("int e(void)\n{\n  /* nothing */\n}\n", []),  # a body with no code
        (  # comments, preprocessor lines and a "/*" inside a string
            "int g(void)\n{\n    /* a\n       b */\n    x = 1; // c\n    // only\n"
            '#ifdef DEBUG\n    y("/* no comment");\n#endif\n    return 0;\n}\n',
            [5, 8, 10],
        ),
    ],
)
def test_candidate_lines_are_statements(text: str, expected: list[int]) -> None:
    assert candidate_lines(text) == expected


def test_every_demo_annotation_has_a_candidate_line() -> None:
    for r in generate_demo(600, seed=5):
        for key in ("flaw_lines", "fix_lines"):
            if r.get(key):
                assert set(r[key]) & set(candidate_lines(str(r["func"]))), (key, r["func"])
    assert rank({7: 0.5, 2: 0.5, 9: 1.0}, [1, 2, 7, 9]) == [9, 2, 7, 1]
    start = FUNC.index("memcpy")
    spans = [(0, 0), (start - 1, start + 6), (start + 6, start + 7), (0, 0)]  # " memcpy", "("
    assert spans_to_lines(FUNC, spans, [9.0, 1.5, 0.25, 9.0]) == {7: 1.75}
    assert blank_line("a\nb\nc\n", 2) == "a\n\nc\n"


def test_floors_on_the_demo() -> None:
    rows = [r for r in generate_demo(200, seed=4, label_noise=0.0) if r.get("flaw_lines")]
    samples = [(str(r["func"]), set(r["flaw_lines"])) for r in rows]
    f = floors(samples)
    assert 0 < f["random"]["top10_accuracy"] < 1 and f["random"]["ifa_mean"] > 1
    # the keyword floor is a real floor: better than random order on this corpus
    assert f["keyword"]["ifa_mean"] < f["random"]["ifa_mean"]


# ------------------------------------------------------- the real tiny registered model
def _scorer(scan_model: Any) -> Any:
    return scan_model.pyfunc.unwrap_python_model().scorer


def test_occlusion_scores_are_logit_drops(scan_model: Any) -> None:
    scorer = _scorer(scan_model)
    scores = occlusion_scores(scorer, FUNC)
    assert sorted(scores) == candidate_lines(FUNC)
    base = float(scorer.logits([FUNC])[0])
    for line in (3, 7):
        alone = float(scorer.logits([blank_line(FUNC, line)])[0])
        assert scores[line] == pytest.approx(base - alone, abs=1e-5)
    best = top_lines(scorer, [FUNC], 3)[0]  # the default method: |logit drop|
    magnitude = {ln: abs(v) for ln, v in scores.items()}
    assert [ln for ln, _ in best] == rank(magnitude, candidate_lines(FUNC))[:3]
    assert [sc for _, sc in best] == [round(magnitude[ln], 6) for ln, _ in best]


def test_gradient_x_input_is_the_embedding_gradient_times_the_embedding(scan_model: Any) -> None:
    """Input × gradient per token equals a hand-written autograd pass (hook on the word
    embeddings, graph embedding fixed) averaged over the seeds; per line it is the sum of
    its tokens' attributions, ranked by magnitude."""
    import torch

    from vulnfusion.localization.attribution import _fusion_logit, _one_batch

    scorer = _scorer(scan_model)
    ids, got = gxi_token_scores(scorer, FUNC)
    batch = _one_batch(scorer, FUNC, ids)
    want = np.zeros(len(ids))
    for model in scorer.models:
        g = model.gnn.embed(batch).float().detach()
        layer = model.transformer.encoder.embeddings.word_embeddings
        kept: list[torch.Tensor] = []

        def keep(
            _m: Any, _i: Any, out: torch.Tensor, kept: list[torch.Tensor] = kept
        ) -> torch.Tensor:
            leaf = out.detach().requires_grad_()  # the served weights carry no gradients
            kept.append(leaf)
            return leaf

        handle = layer.register_forward_hook(keep)
        with torch.enable_grad():
            _fusion_logit(model, g)(batch.input_ids, batch.attention_mask).sum().backward()
        handle.remove()
        (emb,) = kept
        want += (emb.grad * emb).sum(-1)[0].detach().double().numpy()[: len(ids)]
    np.testing.assert_allclose(got, want / len(scorer.models), rtol=1e-4, atol=1e-6)
    spans = token_spans(scorer, FUNC, ids)
    assert spans is not None
    per_line = spans_to_lines(FUNC, spans, got.tolist())
    assert line_scores(scorer, FUNC, "gradient_x_input") == {
        ln: abs(v) for ln, v in per_line.items()
    }
    # the tiny model reads 64 tokens: the window ends inside line 9
    assert sorted(set(candidate_lines(FUNC)) & set(per_line)) == [3, 5, 6, 7, 8]
    best = top_lines(scorer, [FUNC], 3, "gradient_x_input")[0]  # ranked among candidates
    magnitude = {ln: abs(v) for ln, v in per_line.items()}
    assert [ln for ln, _ in best] == rank(magnitude, candidate_lines(FUNC))[:3]


def test_top_lines_predict_parameter(scan_model: Any) -> None:
    pyfunc = scan_model.pyfunc
    df = pd.DataFrame({"func": [FUNC, "int f(void) { return 0; }\n"]})
    plain = pyfunc.predict(df)
    assert list(plain.columns) == ["probability", "label"]  # default: unchanged output
    out = pyfunc.predict(df, params={"top_lines": 3})
    assert list(out["probability"]) == pytest.approx(list(plain["probability"]), abs=1e-6)
    first = json.loads(out["top_lines"][0])
    assert len(first) == 3 and [d["score"] for d in first] == sorted(
        (d["score"] for d in first), reverse=True
    )
    assert {d["line"] for d in first} <= set(candidate_lines(FUNC))
    assert [d["line"] for d in json.loads(out["top_lines"][1])] == [1]  # one line, one candidate
    assert "top_lines" not in pyfunc.predict(df, params={"top_lines": 0}).columns
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException, match="top_lines"):
        pyfunc.predict(df, params={"top_lines": -1})


def test_signature_declares_the_parameter(registered_model: Any) -> None:
    from mlflow.models import Model

    sig = Model.load(str(registered_model.local_dir)).signature
    assert sig is not None and sig.params is not None
    (param,) = sig.params.params
    assert (param.name, param.default) == ("top_lines", 0)


def test_localisation_on_the_demo_beats_the_random_floor(scan_model: Any) -> None:
    """The tiny model (160 training functions, 2 epochs) on 100 flawed demo functions it
    never saw: occlusion, the default, ranks flawed lines above random order (mean IFA,
    Top-10). Measured when written: IFA 2.58 vs 4.02, Top-10 0.97 vs 0.925 (keyword floor:
    1.67, 0.98)."""
    rows = generate_demo(200, seed=21, label_noise=0.0)
    result = evaluate_localization(_scorer(scan_model), rows)
    assert result["functions"] == 100
    assert result["chosen"] == "occlusion"
    got, rand = result["methods"]["occlusion"], result["floors"]["random"]
    print(json.dumps(result, indent=1))
    assert got["ifa_mean"] < rand["ifa_mean"]
    assert got["top10_accuracy"] >= rand["top10_accuracy"]


# ---------------------------------------------------------------- scan: SARIF and text
def test_sarif_related_locations_read_back(scan_model: Any, tmp_path: Path) -> None:
    root = tmp_path / "t"
    root.mkdir()
    src = "/* header */\n\n" + FUNC
    (root / "a.c").write_text(src)
    result = run_scan([root], scan_model, ScanOptions(threshold=0.0, top_lines=4, progress=False))
    (finding,) = result.findings
    (fn,) = extract_functions(src)
    expected = top_lines(_scorer(scan_model), [fn.text], 4)[0]
    assert [(t.line, t.score) for t in finding.top_lines] == [
        (fn.start_line + ln - 1, pytest.approx(sc, abs=1e-6)) for ln, sc in expected
    ]
    model = {"uri": "m", "name": "m", "version": "1"}
    log = build_sarif(result, model, 0)
    (res,) = log["runs"][0]["results"]
    related = res["relatedLocations"]
    assert [r["id"] for r in related] == [0, 1, 2, 3]
    for r, t in zip(related, finding.top_lines, strict=True):
        region = r["physicalLocation"]["region"]
        assert region == {"startLine": t.line}
        assert 3 <= t.line <= 12  # inside the function, in file lines
        assert r["physicalLocation"]["artifactLocation"]["uri"] == "a.c"
        assert f"(score {t.score:.3f})" in r["message"]["text"]
        assert r["properties"]["score"] == round(t.score, 6)
    out = tmp_path / "scan.sarif"
    out.write_text(json.dumps(log))
    summary = subprocess.run(
        [str(SARIF_BIN), "summary", str(out)], capture_output=True, text=True, check=True
    ).stdout
    assert f"{res['level']}: 1" in summary
    # sarif-tools' reader keeps the related locations of a result
    from sarif import loader

    (record,) = loader.load_sarif_file(str(out)).get_records()
    assert record["Location"] == "a.c"


def test_top_lines_zero_and_text_table(scan_model: Any, tmp_path: Path) -> None:
    from vulnfusion.scan.formats import to_json, to_text

    root = tmp_path / "t"
    root.mkdir()
    (root / "a.c").write_text(FUNC)
    none = run_scan([root], scan_model, ScanOptions(threshold=0.0, top_lines=0, progress=False))
    assert none.findings[0].top_lines == []
    assert (
        "relatedLocations"
        not in build_sarif(none, {"uri": "", "name": "", "version": ""}, 0)["runs"][0]["results"][0]
    )
    two = run_scan([root], scan_model, ScanOptions(threshold=0.0, top_lines=2, progress=False))
    model = {"uri": "m", "name": "m", "version": "1"}
    table = to_text(two, model).splitlines()
    assert table[0].split()[-2:] == ["top", "lines"]
    cells = " ".join(f"{t.line}:{t.score:.2f}" for t in two.findings[0].top_lines)
    assert table[1].endswith(cells)
    doc = to_json(two, model)
    assert doc["findings"][0]["top_lines"] == [
        {"line": t.line, "score": t.score} for t in two.findings[0].top_lines
    ]


def test_localisation_budget_per_function_and_per_request() -> None:
    from vulnfusion.localization.attribution import GXI_COST, IG_STEPS, localization_cost
    from vulnfusion.localization.lines import MAX_OCCLUSION_LINES, occlusion_cost
    from vulnfusion.scan.model import request_chunks
    from vulnfusion.serving import (
        MAX_REQUEST_LOCALIZATION_COST,
        InputError,
        ServingSpec,
        top_lines_column,
    )

    def body(n: int) -> str:
        return "int f(void)\n{\n" + "".join(f"    x{i} = {i};\n" for i in range(n)) + "}\n"

    assert occlusion_cost(FUNC) == 6
    assert occlusion_cost(body(MAX_OCCLUSION_LINES)) == MAX_OCCLUSION_LINES
    assert occlusion_cost(body(MAX_OCCLUSION_LINES + 1)) == 0  # not localised at all
    assert localization_cost(FUNC, "occlusion_signed") == 6
    assert localization_cost(FUNC) == 6  # the default: occlusion
    # input x gradient: one forward + backward whatever the length; no candidate line: nothing
    gxi = "gradient_x_input"
    assert localization_cost(FUNC, gxi) == localization_cost(body(500), gxi) == GXI_COST == 4
    assert localization_cost(FUNC, "integrated_gradients") == 4 * IG_STEPS == 64
    assert localization_cost("int f(void)\n{\n}\n", gxi) == 0
    with pytest.raises(ValueError, match="unknown localisation method 'saliency'"):
        localization_cost(FUNC, "saliency")
    many = [body(100)] * (MAX_REQUEST_LOCALIZATION_COST // 100 + 1)  # 2,100 lines to rank
    with pytest.raises(InputError, match=r"these 21 functions costs 2100 scorings, over the 2000"):
        top_lines_column(None, many, 3)  # type: ignore[arg-type]  # refused before scoring
    spec = ServingSpec(
        threshold=0.5,
        max_length=64,
        max_nodes=100,
        max_chars_parse=10_000,
        max_input_chars=100_000,
        max_rows=1000,
        seeds=(0,),
    )
    chunks = list(request_chunks(many, spec, localize=True))
    assert [len(c) for c in chunks] == [20, 1]  # scan splits what one request may not hold
    assert [f for c in chunks for f in c] == many


def test_requests_split_at_every_per_request_limit() -> None:
    """Rows, characters and (for localisation) lines to rank: each limit alone cuts a run,
    input order kept, and a function over a limit on its own is a run of its own."""
    from vulnfusion.scan.model import request_chunks
    from vulnfusion.serving import ServingSpec

    spec = ServingSpec(0.5, 64, 100, 10_000, 100_000, max_rows=3, seeds=(0,), max_request_chars=10)
    funcs = ["aaaa", "bbbb", "cc", "d", "e", "f", "g", "hhhhhhhhhhhh", "i"]
    chunks = list(request_chunks(funcs, spec))
    # 4+4+2 = 10 chars fit; "d e f" is 3 rows; "g" then the 12-char function alone; "i"
    assert chunks == [["aaaa", "bbbb", "cc"], ["d", "e", "f"], ["g"], ["hhhhhhhhhhhh"], ["i"]]
    assert list(request_chunks([], spec)) == []


def test_scores_more_characters_than_one_request_holds(scan_model: Any) -> None:
    """`evaluate` and `scan` send batches of max_rows functions: long functions used to make
    one request exceed register.max_request_chars and the whole run fail (Devign's test
    split: 2.0M characters in 1,000 rows). predict now splits, and scores as one by one."""
    spec = scan_model.spec
    n = spec.max_request_chars // (spec.max_input_chars - 100) + 1
    body = "    x = x + 1;\n" * ((spec.max_input_chars - 200) // 16)  # 16 characters a line
    long = [f"int f{i}(int x)\n{{\n{body}    return x;\n}}\n" for i in range(n)]
    assert all(len(f) <= spec.max_input_chars for f in long)
    assert sum(map(len, long)) > spec.max_request_chars  # more than one request may carry
    together = scan_model.predict(long)
    alone = [scan_model.predict([f])[0] for f in long[:2]]
    assert len(together) == n and together[:2] == pytest.approx(alone, abs=1e-6)
