"""A held-out paired demo set: vulnerable/fixed twins (:func:`generate_demo_pairs`) with a
``pair_id`` and a ``cwe``, never in the generated training corpus (its RNG streams differ).

``make run`` writes it after ``dvc repro`` and evaluates the registered model on it
(``vulnfusion evaluate``), printing the pair-wise figures. Also a command::

    python -m vulnfusion.data.demo.heldout data/heldout/demo_pairs.jsonl [--pairs 200] [--seed 7]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vulnfusion.data.demo.generator import generate_demo_pairs
from vulnfusion.io import write_jsonl

DEFAULT_PAIRS = 200  # 20 per CWE family: enough for pair-wise shares to move in 0.5% steps
DEFAULT_SEED = 7
PROJECT = "demo-heldout"


def heldout_rows(n_pairs: int = DEFAULT_PAIRS, seed: int = DEFAULT_SEED) -> list[dict[str, Any]]:
    """Two rows per pair, vulnerable first: ``func``, ``target``, ``pair_id``
    (``demo-pair-<k>``), ``cwe`` (the family), ``project``.

    Raises:
        ValueError: ``n_pairs < 0``.
    """
    rows = []
    for k, (family, vulnerable, fixed) in enumerate(generate_demo_pairs(n_pairs, seed)):
        for func, target in ((vulnerable, 1), (fixed, 0)):
            pair = f"demo-pair-{k}"
            rows.append(
                {"func": func, "target": target, "pair_id": pair, "cwe": family, "project": PROJECT}
            )
    return rows


def write_heldout(path: Path, n_pairs: int = DEFAULT_PAIRS, seed: int = DEFAULT_SEED) -> Path:
    """Write :func:`heldout_rows` as JSON Lines to ``path`` (atomically; parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_jsonl(path, heldout_rows(n_pairs, seed))


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("output", type=Path, help="the .jsonl file to write")
    p.add_argument("--pairs", type=int, default=DEFAULT_PAIRS, help="number of pairs")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generator seed")
    args = p.parse_args(argv)
    if args.pairs < 1:
        p.error("--pairs must be at least 1")
    write_heldout(args.output, args.pairs, args.seed)
    print(f"wrote {2 * args.pairs} functions ({args.pairs} pairs) to {args.output}")


if __name__ == "__main__":
    main()
