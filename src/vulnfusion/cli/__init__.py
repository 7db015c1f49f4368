"""Shared plumbing for the stage entry points in ``pipelines/``.

The CLI is the top layer: it may import any library module, none may import it. This
package ``__init__`` imports only config/errors, so a stage's import closure (and its DVC
deps) holds just the code that stage runs; stage-specific entry points live in submodules
(``vulnfusion.cli.train``).

Every stage: parse args, configure logging once, load the config once, call one function.
Expected failures (bad params, bad data, a missing model) end with one line on stderr and
exit code 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import typing
from collections.abc import Callable, Sequence
from typing import Any

from vulnfusion import stop
from vulnfusion.config import Config, TrainConfig, load_config, parse_overrides
from vulnfusion.errors import VulnfusionError

log = logging.getLogger("vulnfusion")

EXIT_USAGE = 2
# What a stage reports in one line: every package error, and the OS's own (a missing or
# unwritable path) whose message already names the file.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (VulnfusionError, OSError)


class StageHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the stage docstring's layout and ends every flag's help with its default, unless
    the help already says it (the train flags name their params.yaml value)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, [], argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


class StageParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose optional flags always show in ``--help``: a flag added
    without help text gets ``default: <value>``."""

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        if action.help is None and action.option_strings and action.default is not None:
            action.help = "default: %(default)s"
        return action


def base_parser(description: str) -> argparse.ArgumentParser:
    p = StageParser(description=description, formatter_class=StageHelpFormatter)
    p.add_argument("--params", default="params.yaml", help="params file")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a param, e.g. --set transformer.train.epochs=2 (repeatable)",
    )
    return p


def params_defaults(path: str = "params.yaml") -> Config:
    """The config ``--help`` shows defaults from: ``path`` resolved, or the built-in defaults
    when it is missing or invalid (help must work anywhere; the stage itself still fails
    on a bad file)."""
    try:
        return load_config(path)
    except EXPECTED_ERRORS:
        return Config()


def setup_logging() -> None:
    level = os.environ.get("VULNFUSION_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    for noisy in ("urllib3", "git", "alembic", "matplotlib", "httpx", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def load(args: argparse.Namespace, extra: dict[str, Any] | None = None) -> Config:
    """Load ``--params`` with ``--set`` overrides and then stage-flag overrides."""
    overrides: dict[str, Any] = parse_overrides(args.overrides)
    overrides.update({k: v for k, v in (extra or {}).items() if v is not None})
    return load_config(args.params, overrides)


def run_stage(
    main: Callable[[Sequence[str] | None], Any], argv: Sequence[str] | None = None
) -> None:
    """Run ``main`` and turn expected failures into one line + an exit code.

    Exit 2: a package error, an OS error, or an MLflow error (the store refused a call; its
    own message, first line). Exit 130 on Ctrl-C, 143 on SIGTERM: both unwind through the
    stage's MLflow run, which then ends as KILLED (``vulnfusion.tracking.start_run``).
    """
    setup_logging()
    signal.signal(signal.SIGTERM, _raise_interrupted)
    sys.unraisablehook = _quiet_dropped_stop
    try:
        main(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except EXPECTED_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except Exception as exc:
        if not type(exc).__module__.startswith("mlflow."):
            raise  # a bug: the traceback is what its fixer needs
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(f"error: MLflow: {first[:300]}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def _quiet_dropped_stop(unraisable: Any) -> None:
    """Python reports (and drops) an exception a signal handler raised inside a ``__del__`` or
    GC callback; for our own recorded stop that report is noise — the training loop raises
    it again (:mod:`vulnfusion.stop`). Anything else is reported as usual."""
    if isinstance(unraisable.exc_value, SystemExit) and stop.requested():
        return
    sys.__unraisablehook__(unraisable)


def _raise_interrupted(signum: int, frame: Any) -> None:
    # SystemExit unwinds like Ctrl-C: `finally` blocks and the MLflow run's KILLED status run;
    # recorded too, so the training loop raises it again if Python dropped this one (stop.py)
    stop.request(128 + signum)
    print("terminated", file=sys.stderr)
    sys.exit(128 + signum)


# One line of help per TrainConfig field (the flag's params.yaml value is appended).
TRAIN_HELP = {
    "epochs": "training epochs",
    "batch_size": "examples per optimiser step",
    "lr": "peak learning rate (AdamW)",
    "weight_decay": "AdamW weight decay",
    "scheduler": "learning-rate schedule after warm-up",
    "warmup_ratio": "fraction of steps with linear warm-up",
    "amp_dtype": "mixed precision (bf16/fp16 on an accelerator)",
    "grad_clip_norm": "clip the gradient norm to this (0: off)",
    "ema": "evaluate an exponential moving average of the weights",
    "ema_decay": "EMA decay per step",
    "pad_to_multiple_of": "pad token sequences to a multiple of this",
    "bucket_by_length": "batch functions of similar length together",
    "num_workers": "data-loader worker processes",
    "prefetch_factor": "batches each worker loads ahead",
    "loss": "cross-entropy or focal loss",
    "focal_gamma": "focal loss gamma",
    "focal_alpha": "focal loss alpha (weight of the positive class)",
    "class_weight": "weight the loss by inverse class frequency",
    "patience": "stop after this many epochs without a better valid F1 (0: never)",
    "device": "cpu, cuda, or auto (cuda when available)",
}


def add_train_flags(p: argparse.ArgumentParser, section: str | None = None) -> None:
    """One optional flag per ``TrainConfig`` field (``--grad-clip-norm``, ``--ema/--no-ema``…).

    Generated from the dataclass so flags and params can never drift apart; every flag
    defaults to ``None`` = "use params.yaml", and its help shows the value params.yaml gives
    ``<section>.train.<field>`` (presets resolved).
    """
    hints = typing.get_type_hints(TrainConfig)
    current = getattr(params_defaults(), section).train if section else TrainConfig()
    where = f"{section}.train" if section else "<track>.train"
    g = p.add_argument_group(f"training loop (override {where}.* in params.yaml)")
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        tp = hints[f.name]
        value = getattr(current, f.name)
        text = f"{TRAIN_HELP.get(f.name, f.name)}; default: {value} (params.yaml)"
        if tp is bool:
            g.add_argument(
                flag,
                dest=f"train_{f.name}",
                action=argparse.BooleanOptionalAction,
                default=None,
                help=text,
            )
        elif typing.get_origin(tp) is typing.Literal:
            g.add_argument(
                flag, dest=f"train_{f.name}", choices=typing.get_args(tp), default=None, help=text
            )
        else:
            g.add_argument(
                flag,
                dest=f"train_{f.name}",
                type=tp,
                default=None,
                help=text,
                metavar=f.name.upper(),
            )


def train_overrides(args: argparse.Namespace, section: str) -> dict[str, Any]:
    """``--epochs 3`` → ``{"<section>.train.epochs": 3}`` for flags the user gave."""
    prefix = "train_"
    return {
        f"{section}.train.{k[len(prefix) :]}": v
        for k, v in vars(args).items()
        if k.startswith(prefix) and v is not None
    }
