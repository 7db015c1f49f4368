"""Deterministic synthetic C corpus for demos, smoke tests and CI.

Every sample is one complete C function that either contains a classic memory-safety or
input-handling flaw or the corresponding repaired version.  The two variants of a family differ
only in control flow or data flow (an added guard, ``<`` instead of ``<=``, a pointer reset after
``free``...), never in identifier names or comments, so a detector has to look at program
structure rather than at lexical giveaways.  Everything is driven by one ``random.Random(seed)``
instance, so the output is byte-identical across processes and Python hash seeds.

Each sample also records which of its lines carry the flaw (``flaw_lines``) or, for a repaired
variant, the fix (``fix_lines``): the ground truth for line-level localisation.
"""

from __future__ import annotations

from vulnfusion.data.demo.families import CWE_FAMILIES
from vulnfusion.data.demo.generator import (
    FIX_LINES,
    FLAW_LINES,
    DemoPair,
    annotated_demo_pairs,
    generate_demo,
    generate_demo_pairs,
)

__all__ = [
    "CWE_FAMILIES",
    "FIX_LINES",
    "FLAW_LINES",
    "DemoPair",
    "annotated_demo_pairs",
    "generate_demo",
    "generate_demo_pairs",
]
