"""Deterministic synthetic C corpus for demos, smoke tests and CI.

Every sample is one complete C function that either contains a classic memory-safety or
input-handling flaw or the corresponding repaired version.  The two variants of a family differ
only in control flow or data flow (an added guard, ``<`` instead of ``<=``, a pointer reset after
``free``...), never in identifier names or comments, so a detector has to look at program
structure rather than at lexical giveaways.  Everything is driven by one ``random.Random(seed)``
instance, so the output is byte-identical across processes and Python hash seeds.
"""

from __future__ import annotations

from vulnfusion.data.demo.families import CWE_FAMILIES
from vulnfusion.data.demo.generator import generate_demo, generate_demo_pairs

__all__ = ["CWE_FAMILIES", "generate_demo", "generate_demo_pairs"]
