"""The demo corpus generator: shuffled (family, variant) slots, one function per slot."""

from __future__ import annotations

import random
from dataclasses import dataclass

from vulnfusion.data.demo.families import BUILDERS, CWE_FAMILIES
from vulnfusion.data.demo.render import PAD_FILLERS, assemble
from vulnfusion.data.demo.snippets import draw_names

FLAW_LINES = "flaw_lines"  # row key: 1-based lines carrying the flaw (flawed variant)
FIX_LINES = "fix_lines"  # row key: 1-based lines of the fix (repaired variant)


@dataclass(frozen=True)
class DemoPair:
    """A vulnerable/fixed twin pair with its line annotations (1-based, ascending)."""

    family: str
    vulnerable: str
    fixed: str
    flaw_lines: tuple[int, ...]  # lines of ``vulnerable`` that carry the flaw
    fix_lines: tuple[int, ...]  # lines of ``fixed`` that carry the fix


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
        where ``target`` is 1 for the flawed variant (after noise) and ``cwe`` is the family id,
        plus the line annotation: ``flaw_lines`` (flawed variant: the 1-based lines of
        ``func`` that carry the flaw) or ``fix_lines`` (repaired variant: the lines of the
        fix), ascending and never empty. They follow the variant, not the noisy label.
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
        func, marked = assemble(rng, nm, BUILDERS[family](rng, nm, vul), pad)
        flip = noise_rng.random() < label_noise
        row: dict[str, object] = {
            "func": func,
            "target": int(vul != flip),
            "cwe": family,
            "project": "demo",
        }
        row[FLAW_LINES if vul else FIX_LINES] = list(marked)
        out.append(row)
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
        ``(family, vulnerable_text, fixed_text)`` per pair (``annotated_demo_pairs`` gives
        the same pairs with their flaw and fix lines).
    """
    return [(p.family, p.vulnerable, p.fixed) for p in annotated_demo_pairs(n_pairs, seed)]


def annotated_demo_pairs(n_pairs: int, seed: int) -> list[DemoPair]:
    """``generate_demo_pairs`` with the flawed twin's flaw lines and the fixed twin's fix
    lines (same arguments, same texts)."""
    if n_pairs < 0:
        raise ValueError(f"n_pairs must be >= 0, got {n_pairs}")
    pairs = []
    for k in range(n_pairs):
        family = CWE_FAMILIES[k % len(CWE_FAMILIES)]
        done = []
        for vul in (True, False):
            rng = random.Random(f"twin-{seed}-{k}")
            names = draw_names(rng)
            core = BUILDERS[family](rng, names, vul)
            done.append(assemble(random.Random(f"twin-decoration-{seed}-{k}"), names, core, 0.0))
        (bad, flaw), (good, fix) = done
        pairs.append(DemoPair(family, bad, good, tuple(flaw), tuple(fix)))
    return pairs
