"""The benchmark's sections, in the order they run by default and appear in bench.md."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import (
    ablation,
    evaluation,
    featurize,
    fusion,
    localize,
    ood,
    pipeline,
    quality,
    scan,
    scoring,
    serving,
    timings,
    train,
)
from bench.context import Ctx
from bench.report import Markdown


@dataclass(frozen=True)
class Section:
    run: Callable[[Ctx], dict[str, Any]]  # the section's ``<name>.*`` keys
    headline: Callable[[dict[str, Any]], str]  # one console line of its result
    markdown: Markdown | None = None  # its own bench.md body; default: a key/value table


SECTIONS: dict[str, Section] = {
    "featurize": Section(featurize.run, featurize.headline),
    "train": Section(train.run, train.headline),
    "fusion": Section(fusion.run, fusion.headline),
    "scoring": Section(scoring.run, scoring.headline),
    "serving": Section(serving.run, serving.headline),
    "localize": Section(localize.run, localize.headline),
    "pipeline": Section(pipeline.run, pipeline.headline),
    "quality": Section(quality.run, quality.headline, quality.markdown),
    "evaluation": Section(evaluation.run, evaluation.headline),
    "ood": Section(ood.run, ood.headline, ood.markdown),
    "ablation": Section(ablation.run, ablation.headline, ablation.markdown),
    "timings": Section(timings.run, timings.headline),
    "scan": Section(scan.run, scan.headline),
}


def markdowns() -> dict[str, Markdown | None]:
    """Each section's own bench.md renderer (None: a key/value table), in report order."""
    return {name: s.markdown for name, s in SECTIONS.items()}
