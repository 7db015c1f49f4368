"""The served model: the fusion seed ensemble as an MLflow pyfunc over raw C source.

Input: a DataFrame with a string column ``func``. Output: ``probability`` (the calibrated
``sigmoid(mean_logit / T)``, the seeds' mean logit over the temperature fitted on valid) and
``label`` (probability ≥ the threshold chosen on valid on that same calibrated scale, by
``register.threshold_policy``). Graph
building and tokenization run inside the model with the exact settings recorded at
training time, so scores match the aggregate stage's ensemble. Bad input is rejected with
a message naming the row: nothing is ever scored as a silent 0.

Logged as "models from code" (``vulnfusion/serving_entry.py``): loading executes this
package's code, never an unpickled object.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from vulnfusion.errors import VulnfusionError
from vulnfusion.serving_spec import (
    DEFAULT_MAX_REQUEST_CHARS,
    SPEC_FILE,
    SPEC_VERSION,
    ServingSpec,
    ServingSpecError,
)

__all__ = [
    "DEFAULT_MAX_REQUEST_CHARS",
    "SPEC_FILE",
    "SPEC_VERSION",
    "EnsembleScorer",
    "InputError",
    "ServingSpec",
    "ServingSpecError",
    "check_row",
    "make_pyfunc",
    "validate_frame",
]

log = logging.getLogger(__name__)


class InputError(VulnfusionError, ValueError):
    """A request the model cannot score (one line, naming the row or column)."""


MAX_LISTED_ROWS = 10  # bad rows named in one error message; the rest are counted
REQUEST_SHAPE = 'send {"dataframe_records": [{"func": "<C source of one function>"}, ...]}'


def request_signature() -> Any:
    """The served model's MLflow signature: input ``func`` of any type and optional, output
    ``probability`` (double), ``label`` (long) and, with the ``top_lines`` predict parameter
    (long, default 0 = off), ``top_lines`` (JSON text).

    MLflow enforces an input schema before ``predict`` runs and answers a mismatch (no
    ``func`` column, no rows, a number where text belongs) with a dump of the whole request;
    declared loosely, every request reaches :func:`validate_frame`, which names the field
    and row in one line. The schema still documents the column.
    """
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, ParamSchema, ParamSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec(AnyType(), "func", required=False)]),
        outputs=Schema(
            [
                ColSpec("double", "probability"),
                ColSpec("long", "label"),
                ColSpec("string", TOP_LINES_PARAM, required=False),
            ]
        ),
        params=ParamSchema([ParamSpec(TOP_LINES_PARAM, "long", 0)]),
    )


def validate_frame(df: Any, spec: ServingSpec) -> list[str]:
    """The normalised ``func`` strings of a request, or ``InputError`` naming what is wrong.

    A request is all or nothing: every row is checked, and one message lists each bad row
    (``row <i>: <reason>``, the first :data:`MAX_LISTED_ROWS`, then how many more), so a
    client fixes a batch in one round trip.
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise InputError(f"expected a DataFrame with a 'func' column, got {type(df).__name__}")
    df = _columnar(df)
    if "func" not in df.columns and len(df.columns) == 0:
        # what the scoring server hands over for `"dataframe_records": []` and for records
        # without 'func' alike: the signature's optional column drops every other one
        raise InputError(f"no rows with a 'func' column to score; {REQUEST_SHAPE}")
    if "func" not in df.columns:
        raise InputError(f"missing column 'func' (got columns: {list(map(str, df.columns))[:10]})")
    if len(df) == 0:
        raise InputError(f"no rows to score; {REQUEST_SHAPE}")
    if len(df) > spec.max_rows:  # first, so an oversized request costs no per-row work
        raise InputError(
            f"{len(df)} rows exceed the limit of {spec.max_rows} rows per request "
            "(register.max_rows); split the request"
        )
    total = sum(len(v) for v in df["func"].tolist() if isinstance(v, str))
    if total > spec.max_request_chars:  # also before per-row work: see ServingSpec
        raise InputError(
            f"{total} characters in {len(df)} rows exceed the limit of {spec.max_request_chars} "
            "characters per request (register.max_request_chars); split the request"
        )
    funcs, bad = [], []
    for i, v in enumerate(df["func"].tolist()):
        try:
            funcs.append(check_row(i, v, spec))
        except InputError as exc:
            bad.append(str(exc))
    if bad:
        raise InputError(_bad_rows_message(bad, len(df)))
    return funcs


def _columnar(df: Any) -> Any:
    """MLflow's columnar request, ``{"inputs": {"func": ["<C>", "<C>"]}}``, reaches
    ``predict`` as *one* row whose ``func`` is the list (MLflow keeps a dict of string lists
    as one row, for LLM prompts): such a row is read as one function per string. Any other
    frame is returned unchanged (a list in one of several rows stays a bad row)."""
    import pandas as pd

    if len(df) != 1 or list(df.columns) != ["func"]:
        return df
    cell = df["func"].iloc[0]
    if isinstance(cell, np.ndarray):
        cell = cell.tolist()
    if isinstance(cell, list) and all(isinstance(v, str) for v in cell):  # [] → no rows
        return pd.DataFrame({"func": cell})
    return df


def check_row(i: int, v: Any, spec: ServingSpec) -> str:
    """Row ``i``'s function, normalised (CRLF scores as LF); ``InputError`` naming the row.

    The per-row half of :func:`validate_frame`, without a DataFrame: ``scan`` checks each
    function it extracts with it (a DataFrame per function cost 0.3 ms)."""
    from vulnfusion.data.sources import DataError, check_function_text

    if v is None or (isinstance(v, float) and v != v):  # null, or absent from this record
        raise InputError(f"row {i}: 'func' is missing (null)")
    if not isinstance(v, str):
        raise InputError(f"row {i}: 'func' must be a string, got {type(v).__name__}")
    if not v.strip():
        raise InputError(f"row {i}: 'func' is empty")
    try:  # the same checks as `prepare`: what training would reject is not scored;
        # normalised (CRLF scores as LF), and the length limit applies to that text
        return check_function_text(v, f"row {i}", spec.max_input_chars)
    except DataError as exc:
        raise InputError(str(exc)) from None


def _bad_rows_message(bad: list[str], n_rows: int) -> str:
    """``2 of 50 rows rejected, nothing scored: row 3: …; row 7: …`` (capped list)."""
    shown = "; ".join(bad[:MAX_LISTED_ROWS])
    more = f"; and {len(bad) - MAX_LISTED_ROWS} more" if len(bad) > MAX_LISTED_ROWS else ""
    head = "1 row" if len(bad) == 1 and n_rows == 1 else f"{len(bad)} of {n_rows} rows"
    return f"{head} rejected, nothing scored: {shown}{more}"


class _SingleThreadedTorch:
    """torch intra-op threads = 1 while any request is inside (restored when the last leaves).

    The thread count is process-wide and the scoring server runs requests on concurrent
    threads: a plain save/set/restore would let two overlapping requests restore each other's
    "1" and leave the server single-threaded for good, so entries are counted under a lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside = 0
        self._before = 0

    @contextmanager
    def __call__(self) -> Iterator[None]:
        import torch

        with self._lock:
            if self._inside == 0:
                self._before = torch.get_num_threads()
                torch.set_num_threads(1)
            self._inside += 1
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1
                if self._inside == 0:
                    torch.set_num_threads(self._before)


single_threaded_torch = _SingleThreadedTorch()


class EnsembleScorer:
    """Loads the seed checkpoints and scores raw functions (no MLflow dependency)."""

    def __init__(self, root: Path, batch_size: int = 16, workers: int | None = None) -> None:
        import torch

        from vulnfusion.graphs import GraphVocab
        from vulnfusion.models.build import load_model
        from vulnfusion.tokenization import load_tokenizer_dir

        self.spec = ServingSpec.from_json(root / SPEC_FILE)
        self.vocab = GraphVocab.from_json((root / "graph_vocab.json").read_text())
        self.tokenizer = load_tokenizer_dir(root / "tokenizer")
        self.models = [load_model(root / "seeds" / f"seed_{s}")[0].eval() for s in self.spec.seeds]
        # 16: single-threaded, small batches stay in cache (measured on Devign: 16% faster
        # per function than 32, 30% faster than 64)
        self.batch_size = batch_size
        self.workers = workers if workers is not None else max(1, torch.get_num_threads())

    def prepare(self, funcs: list[str]) -> list[str]:
        """The texts the model reads: ``funcs``, identifier-normalised when the bundle was
        trained so (``featurize.normalize_identifiers``; lines are kept)."""
        from vulnfusion.featurize import source_texts

        return source_texts(funcs, self.spec.normalize_identifiers)

    def features(self, funcs: list[str], token_ids: list[list[int]], prepared: bool = False) -> Any:
        """Graphs of ``funcs`` and their ``token_ids`` (from ``encode``) as ``SplitFeatures``
        (``prepared``: ``funcs`` already went through :meth:`prepare`)."""
        from vulnfusion.featurize import text_features

        funcs = funcs if prepared else self.prepare(funcs)
        spec = self.spec
        return text_features(
            funcs,
            token_ids,
            self.vocab,
            spec.max_nodes,
            spec.max_chars_parse,
            spec.dataflow_features,
        )

    def encode(self, funcs: list[str], prepared: bool = False) -> list[list[int]]:
        """Token ids of ``funcs`` (``prepared``: as :meth:`features`), ``max_tokens`` each."""
        from vulnfusion.tokenization import encode

        return encode(
            self.tokenizer, funcs if prepared else self.prepare(funcs), self.spec.max_tokens
        )

    def logits(self, funcs: list[str]) -> np.ndarray:
        """The seeds' mean logit per function (float32, input order).

        CPU: batches are collated once and shared by every seed (the GNN's relation index
        too); ``workers`` threads each score whole batches with single-threaded torch ops.
        For models this small, intra-op threads mostly wait on each other (and stall
        outright on a busy machine); one batch per core keeps every core on real work.
        Graph building (Python, holds the GIL) runs chunk by chunk in the calling thread
        while the workers score the previous chunk (torch releases the GIL).
        """
        import torch

        from vulnfusion.batching import BatchLayout
        from vulnfusion.training import eval_loader

        spec = BatchLayout(tokens=True, graphs=True, pad_id=int(self.tokenizer.pad_token_id))
        out = np.zeros((len(self.models), len(funcs)), dtype=np.float32)
        # Tokenizing is cheap: do it for the whole request, then visit functions shortest
        # first so every batch holds similar lengths (3% padding on 256 Devign functions
        # against 13% when each chunk was bucketed on its own).
        funcs = self.prepare(funcs)
        token_ids = self.encode(funcs, prepared=True)
        order = np.argsort(np.fromiter(map(len, token_ids), np.int64, len(funcs)), kind="stable")

        def run(batch: Any, rows: np.ndarray) -> None:
            with torch.inference_mode():
                rows = rows[batch.index.numpy()]
                for k, model in enumerate(self.models):
                    out[k, rows] = model(batch).float().numpy()

        def batches(rows: np.ndarray) -> list[Any]:
            feats = self.features(
                [funcs[i] for i in rows], [token_ids[i] for i in rows], prepared=True
            )
            return list(eval_loader(feats, spec, self.batch_size, 8))

        if self.workers <= 1 or len(funcs) <= self.batch_size:
            for b in batches(order):
                run(b, order)
            return out.mean(axis=0)
        chunk = self.batch_size * self.workers * 2  # two batches per worker in flight
        with single_threaded_torch(), ThreadPoolExecutor(self.workers) as pool:
            pending = []
            for start in range(0, len(funcs), chunk):
                rows = order[start : start + chunk]
                pending += [pool.submit(run, b, rows) for b in batches(rows)]
            for f in pending:
                f.result()  # re-raises a worker's exception here
        return out.mean(axis=0)

    def score(self, funcs: list[str]) -> tuple[np.ndarray, np.ndarray]:
        from vulnfusion.metrics import sigmoid

        # the calibrated scale the threshold was chosen on (vulnfusion.ensemble)
        prob = sigmoid(self.logits(funcs).astype(np.float64) / self.spec.temperature)
        return prob, (prob >= self.spec.threshold).astype(np.int64)


TOP_LINES_PARAM = "top_lines"  # MLflow predict parameter: lines per function (0 = off)
MAX_TOP_LINES = 100


def top_lines_param(params: dict[str, Any] | None) -> int:
    """The ``top_lines`` predict parameter (default 0: no localisation); ``InputError`` when
    it is not an integer in [0, :data:`MAX_TOP_LINES`]."""
    value = (params or {}).get(TOP_LINES_PARAM, 0)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputError(f"parameter '{TOP_LINES_PARAM}' must be an integer, got {value!r}")
    if not 0 <= int(value) <= MAX_TOP_LINES:
        raise InputError(
            f"parameter '{TOP_LINES_PARAM}' must be in [0, {MAX_TOP_LINES}], got {value}"
        )
    return int(value)


# Localising a function costs scorings of it (``localization_cost``: one per candidate line for
# the default, occlusion): a request may ask for at most this many scorings' worth in all (a worker
# must answer within the server's 60 s timeout).
MAX_REQUEST_LOCALIZATION_COST = 2_000


def top_lines_column(scorer: EnsembleScorer, funcs: list[str], k: int) -> list[str]:
    """Per function, a JSON list of its ``k`` most suspicious lines, best first:
    ``[{"line": <1-based line of the function text>, "score": <|logit change|>}, ...]``
    (``vulnfusion.localization``: line occlusion through the ensemble).

    Raises:
        InputError: localising the request's functions costs more than
            :data:`MAX_REQUEST_LOCALIZATION_COST` scorings in all.
    """
    # only when asked for
    from vulnfusion.localization.attribution import localization_cost, top_lines

    cost = sum(localization_cost(f) for f in funcs)
    if cost > MAX_REQUEST_LOCALIZATION_COST:
        raise InputError(
            f"parameter '{TOP_LINES_PARAM}': localising these {len(funcs)} functions costs "
            f"{cost} scorings, over the {MAX_REQUEST_LOCALIZATION_COST} one request may ask "
            "for; send fewer functions per request"
        )
    return [
        json.dumps([{"line": ln, "score": sc} for ln, sc in lines])
        for lines in top_lines(scorer, funcs, k)
    ]


def make_pyfunc() -> Any:
    """The ``mlflow.pyfunc.PythonModel`` wrapper (built lazily: no MLflow import at import)."""
    import mlflow.pyfunc
    import pandas as pd
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    class RequestError(MlflowException):
        """HTTP 400 (INVALID_PARAMETER_VALUE) whose body is our one-line message alone.

        MLflow's scoring server rewrites ``message`` of any ``MlflowException`` raised by
        ``predict`` to ``Failed to predict data '<the whole request>'. Error: <message>``;
        this class keeps only the part after ``Error:``, so a 50-row request no longer
        answers with 3 KB of DataFrame before the row that is wrong.
        """

        def __init__(self, message: str) -> None:
            super().__init__(message, error_code=INVALID_PARAMETER_VALUE)

        @property
        def message(self) -> str:
            return self._message

        @message.setter
        def message(self, value: str) -> None:
            self._message = str(value).rsplit("\nError: ", 1)[-1]

    class VulnfusionEnsemble(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined]
        def load_context(self, context: Any) -> None:
            self.scorer = EnsembleScorer(Path(context.artifacts["bundle"]))

        def predict(
            self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
        ) -> pd.DataFrame:
            try:
                funcs = validate_frame(model_input, self.scorer.spec)
                k = top_lines_param(params)
            except InputError as exc:
                raise RequestError(str(exc)) from None
            prob, label = self.scorer.score(funcs)
            out = pd.DataFrame({"probability": prob, "label": label})
            if k:
                try:
                    out["top_lines"] = top_lines_column(self.scorer, funcs, k)
                except InputError as exc:
                    raise RequestError(str(exc)) from None
            return out

    return VulnfusionEnsemble()
