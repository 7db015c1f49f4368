"""The model ``scan`` scores with: the registered pyfunc, loaded exactly as a server loads it.

``mlflow.pyfunc.load_model`` runs the same ``serving_entry`` → ``serving.make_pyfunc`` code as
``mlflow models serve``, and every batch goes through its ``predict`` (request validation,
normalisation, graphs, tokens, the seed ensemble): a function scores the same in ``scan`` as in
a REST request. URIs accepted: ``models:/name@alias``, ``models:/name/version``,
``runs:/<run_id>/model``, or a local directory (``mlflow artifacts download`` output), which
needs no tracking store — what CI uses. A ``models:/`` or ``runs:/`` URI whose local store
(``sqlite:///…``, ``file:…``) does not exist fails with an error naming that store, without
creating it; any other load failure names the store searched too.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vulnfusion.errors import VulnfusionError
from vulnfusion.serving import (
    MAX_REQUEST_LOCALIZATION_COST,
    InputError,
    ServingSpec,
    check_row,
)

log = logging.getLogger(__name__)

DEFAULT_MODEL = "models:/vulnfusion-ensemble@champion"
FALLBACK_MODEL = "models:/vulnfusion-ensemble@candidate"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")  # two letters at least: not "C:\\"


class ModelLoadError(VulnfusionError, RuntimeError):
    """The model URI cannot be resolved or loaded (one line, naming the URI)."""


class StoreMissingError(ModelLoadError):
    """A ``models:/`` or ``runs:/`` URI names a tracking store that does not exist."""


@dataclass
class ScanModel:
    """A loaded pyfunc and what the SARIF records about it."""

    pyfunc: Any
    uri: str
    name: str
    version: str
    spec: ServingSpec
    notice: str | None = None  # e.g. "champion not found, using candidate"

    @property
    def max_rows(self) -> int:
        """Rows per ``predict`` call the model accepts (``register.max_rows``)."""
        return self.spec.max_rows

    def check(self, func: str) -> str | None:
        """Why the served model would refuse ``func`` (its own per-row checks), or ``None``."""
        try:
            check_row(0, func, self.spec)
        except InputError as exc:
            return str(exc).removeprefix("row 0: ")
        return None

    def predict(self, funcs: list[str]) -> list[float]:
        """The probabilities of ``funcs`` from the pyfunc's ``predict`` (input order), in as
        many calls as the served model's per-request limits need (:func:`request_chunks`)."""
        import pandas as pd

        out: list[float] = []
        for chunk in request_chunks(funcs, self.spec):
            with quiet_mlflow():
                got = self.pyfunc.predict(pd.DataFrame({"func": chunk}))
            out += [float(p) for p in got["probability"].tolist()]
        return out

    def top_lines(self, funcs: list[str], k: int) -> list[list[tuple[int, float]]]:
        """The ``k`` most suspicious ``(line of the function text, score)`` of each of
        ``funcs``, best first, from the pyfunc's ``top_lines`` predict parameter."""
        import json

        import pandas as pd

        out: list[list[tuple[int, float]]] = []
        for chunk in request_chunks(funcs, self.spec, localize=True):
            with quiet_mlflow():
                got = self.pyfunc.predict(pd.DataFrame({"func": chunk}), params={"top_lines": k})
            if "top_lines" not in got.columns:  # a model registered before localisation existed
                return [[] for _ in funcs]
            out += [
                [(int(d["line"]), float(d["score"])) for d in json.loads(cell)]
                for cell in got["top_lines"].tolist()
            ]
        return out


def request_chunks(
    funcs: list[str], spec: ServingSpec, localize: bool = False
) -> Iterator[list[str]]:
    """``funcs`` in order, in runs that one request to the served model accepts: at most
    ``spec.max_rows`` rows and ``spec.max_request_chars`` characters (as
    :func:`~vulnfusion.serving.validate_frame` counts them) and, with ``localize``, at most
    :data:`~vulnfusion.serving.MAX_REQUEST_LOCALIZATION_COST` scorings' worth of localisation.
    A function alone is always a run of its own (the model then accepts or refuses it on
    its own merits)."""
    from vulnfusion.localization.attribution import localization_cost

    chunk: list[str] = []
    chars = cost = 0
    for f in funcs:
        c, n = len(f), localization_cost(f) if localize else 0
        full = len(chunk) >= spec.max_rows or chars + c > spec.max_request_chars
        if chunk and (full or cost + n > MAX_REQUEST_LOCALIZATION_COST):
            yield chunk
            chunk, chars, cost = [], 0, 0
        chunk.append(f)
        chars += c
        cost += n
    if chunk:
        yield chunk


# advice for model authors, not for someone scanning code (the second is torch's, per call)
_HINTS = (r"Add type hints to the `predict` method", r"Sparse CSR tensor support is in beta")


@contextmanager
def quiet_mlflow() -> Iterator[None]:
    """MLflow's INFO lines and advice warnings off while loading and predicting.

    A terminal command's stderr carries the progress bar, notices and errors; MLflow's
    per-call hints ("Unsupported type hint", "Add type hints to predict") say nothing to a
    user of ``scan``. Warnings and errors from MLflow still show.
    """
    logger = logging.getLogger("mlflow")
    before = logger.level
    logger.setLevel(max(before, logging.WARNING))
    try:
        with warnings.catch_warnings():
            show = warnings.showwarning

            # a filter is not enough: MLflow installs its own "always" filter around this one
            def drop_hints(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
                if not any(re.search(h, str(message)) for h in _HINTS):
                    show(message, category, *args, **kwargs)

            warnings.showwarning = drop_hints
            yield
    finally:
        logger.setLevel(before)


def load_scan_model(uri: str | None, jobs: int | None = None) -> ScanModel:
    """Load ``uri`` (``None``: the champion, else the candidate with a notice).

    Args:
        uri: a model URI or a local model directory.
        jobs: scoring threads for the ensemble (``None``: the scorer's default, one per core).

    Raises:
        ModelLoadError: the URI does not resolve, or is not a vulnfusion pyfunc.
    """
    if uri is not None:
        model = _load(uri)
    else:
        try:
            model = _load(DEFAULT_MODEL)
        except StoreMissingError:
            raise  # no store at all: the fallback would fail alike, naming another alias
        except ModelLoadError as first:
            log.info("%s", first)
            model = _load(FALLBACK_MODEL)
            model.notice = (
                f"{DEFAULT_MODEL} is not registered; using {FALLBACK_MODEL} "
                "(a model that did not pass every target)"
            )
    if jobs is not None:
        model.pyfunc.unwrap_python_model().scorer.workers = max(1, jobs)
    return model


def _load(uri: str) -> ScanModel:
    import mlflow.pyfunc  # heavy: only when a scan runs
    from mlflow.exceptions import MlflowException

    env_uri = os.environ.get("MLFLOW_TRACKING_URI")
    if env_uri and uri.startswith(("models:/", "runs:/")):
        # the store the user named wins over one set earlier in this process
        mlflow.set_tracking_uri(env_uri)
        mlflow.set_registry_uri(os.environ.get("MLFLOW_REGISTRY_URI", env_uri))
    store = None
    if uri.startswith(("models:/", "runs:/")):
        store = mlflow.get_registry_uri() if uri.startswith("models:/") else None
        store = store or mlflow.get_tracking_uri()
        if _store_missing(store):  # resolving would create an empty store as a side effect
            raise StoreMissingError(
                f"cannot load model '{uri}': no tracking store at {store}; set "
                "MLFLOW_TRACKING_URI or pass a model directory"
            )
    target = uri
    if not _SCHEME.match(uri):  # a plain path: models:/, runs:/, file:// … have a scheme
        if not Path(uri).is_dir():
            raise ModelLoadError(f"model '{uri}': no such directory and not a model URI")
        target = str(Path(uri).resolve())
    try:
        with quiet_mlflow():
            pyfunc = mlflow.pyfunc.load_model(target)
    except Exception as exc:  # any failure to fetch or unpickle: the URI's fault, exit 2
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if not isinstance(exc, (MlflowException, OSError)):
            # an artifact store's own error (http, s3 …): name its kind, the text may be bare
            first = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
            if isinstance(exc, ImportError):
                first += " (the client library of this URI's scheme is not installed)"
            elif uri.startswith(("http://", "https://")):
                first = (
                    "an http(s) URI is read as an MLflow artifact-server path, which this is "
                    "not; for a tracking server set MLFLOW_TRACKING_URI=<server> and pass "
                    "models:/name@alias or runs:/<id>/model, or pass a model directory"
                )
        where = f" (tracking store {store})" if store else ""
        raise ModelLoadError(f"cannot load model '{uri}'{where}: {first or 'failed'}") from None
    scorer = getattr(pyfunc.unwrap_python_model(), "scorer", None)
    if scorer is None or not isinstance(getattr(scorer, "spec", None), ServingSpec):
        raise ModelLoadError(f"model '{uri}' is not a vulnfusion ensemble pyfunc")
    name, version = _identity(uri, pyfunc)
    return ScanModel(pyfunc, uri, name, version, scorer.spec)


def _store_missing(store: str) -> bool:
    """Whether ``store`` names a local store (``sqlite:///…``, ``file:…`` or a path) that does
    not exist: MLflow would create it empty on first use (MLflow 3 defaults to
    ``sqlite:///mlflow.db`` in the working directory), so a look-up there can only fail."""
    if store.startswith("sqlite:///"):
        db = store.removeprefix("sqlite:///")
        return db not in ("", ":memory:") and not Path(db).exists()
    if store.startswith("file:"):
        return not Path(store.removeprefix("file://").removeprefix("file:")).exists()
    if not _SCHEME.match(store):  # a plain path is a file store
        return not Path(store).exists()
    return False


def _identity(uri: str, pyfunc: Any) -> tuple[str, str]:
    """(registered name, version) for a ``models:/`` URI; else the run or directory."""
    if uri.startswith("models:/"):
        from mlflow import MlflowClient

        ref = uri.removeprefix("models:/")
        name, _, rest = ref.partition("@") if "@" in ref else ref.partition("/")
        try:
            client = MlflowClient()
            if "@" in ref:
                return name, str(client.get_model_version_by_alias(name, rest).version)
            return name, rest
        except Exception:  # the model loaded; a missing version label must not stop a scan
            return name, "unknown"
    run_id = getattr(pyfunc.metadata, "run_id", None)
    if uri.startswith("runs:/"):
        return "vulnfusion-ensemble", f"run {run_id or uri.split('/')[1]}"
    if not _SCHEME.match(uri):
        registered = _registered_meta(Path(uri))
        if registered is not None:
            return registered
    return Path(uri).resolve().name, f"local{f' (run {run_id})' if run_id else ''}"


def _registered_meta(directory: Path) -> tuple[str, str] | None:
    """(name, version) from the ``registered_model_meta`` file MLflow writes beside
    ``MLmodel`` of a registered version (``mlflow artifacts download -u models:/…``);
    ``None`` when it is absent or unreadable: the directory then names the model."""
    import yaml

    try:
        meta = yaml.safe_load((directory / "registered_model_meta").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(meta, dict) or not meta.get("model_name"):
        return None
    version = meta.get("model_version")
    return str(meta["model_name"]), "unknown" if version is None else str(version)
