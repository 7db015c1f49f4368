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


def generate_demo_pairs(n_pairs: int, seed: int) -> list[tuple[str, str, str]]:
    """Minimal vulnerable/fixed twin pairs, one CWE family after another.

    ``generate_demo`` draws every function independently, so its corpus holds no twins. Here
    both variants of pair ``k`` start from the same RNG state, so they share the function
    name, every identifier and every choice the family builder makes before the fix; both are
    decorated (filler, nesting, decoy guard, layout) from a second shared RNG state, with no
    length padding. The texts differ by the fix (a guard, ``<`` for ``<=``, a statement
    order, a pointer reset, a bounded call) and by label-independent draws the builder makes
    after it.

    Args:
        n_pairs: number of pairs (>= 0); family ``k % len(CWE_FAMILIES)`` for pair ``k``.
        seed: same ``(n_pairs, seed)`` → identical pairs; the RNG streams differ from
            ``generate_demo``'s, so pairs are (almost surely) not in a demo corpus.

    Returns:
        ``(family, vulnerable_text, fixed_text)`` per pair.
    """
    if n_pairs < 0:
        raise ValueError(f"n_pairs must be >= 0, got {n_pairs}")
    pairs = []
    for k in range(n_pairs):
        family = CWE_FAMILIES[k % len(CWE_FAMILIES)]
        texts = []
        for vul in (True, False):
            rng = random.Random(f"twin-{seed}-{k}")
            names = draw_names(rng)
            core = BUILDERS[family](rng, names, vul)
            texts.append(assemble(random.Random(f"twin-decoration-{seed}-{k}"), names, core, 0.0))
        pairs.append((family, texts[0], texts[1]))
    return pairs
