"""The demo corpus generator: shuffled (family, variant) slots, one function per slot."""

from __future__ import annotations

import random

from vulnfusion.data.demo.families import BUILDERS, CWE_FAMILIES
from vulnfusion.data.demo.render import PAD_FILLERS, assemble
from vulnfusion.data.demo.snippets import draw_names


def _slots(rng: random.Random, n: int) -> list[tuple[str, bool]]:
    """(family, vulnerable) pairs in shuffled blocks: exact balance without positional leaks."""
    slots: list[tuple[str, bool]] = []
    while len(slots) < n:
        block = [(family, vul) for family in CWE_FAMILIES for vul in (True, False)]
        rng.shuffle(block)
        slots.extend(block)
    return slots[:n]


def generate_demo(
    n_functions: int, seed: int, label_noise: float = 0.05
) -> list[dict[str, object]]:
    """Generate a deterministic synthetic corpus of labelled C functions.

    Args:
        n_functions: number of functions to generate (>= 0).
        seed: RNG seed; identical ``(n_functions, seed, label_noise)`` give byte-identical output.
        label_noise: probability of independently flipping each label (0 <= p <= 1).  Noise is
            drawn from a separate stream, so the functions themselves do not depend on it.

    Returns:
        One dict per function: ``{"func": str, "target": int, "cwe": str, "project": "demo"}``
        where ``target`` is 1 for the flawed variant (after noise) and ``cwe`` is the family id.
    """
    if n_functions < 0:
        raise ValueError(f"n_functions must be >= 0, got {n_functions}")
    if not 0.0 <= label_noise <= 1.0:
        raise ValueError(f"label_noise must be in [0, 1], got {label_noise}")
    rng = random.Random(seed)
    noise_rng = random.Random(rng.getrandbits(64))
    out: list[dict[str, object]] = []
    for family, vul in _slots(rng, n_functions):
        nm = draw_names(rng)
        pad = PAD_FILLERS[family] if vul else 0.0
        func = assemble(rng, nm, BUILDERS[family](rng, nm, vul), pad)
        flip = noise_rng.random() < label_noise
        out.append({"func": func, "target": int(vul != flip), "cwe": family, "project": "demo"})
    return out
