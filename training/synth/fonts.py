"""Fonts for the renderers, found through fontconfig (the same lookup Graphviz and Chromium use).

Each look has families for Latin and for Chinese text; a family that is not installed is left
out, and a chart needing Chinese with no CJK font falls back to English (see ``cjk_available``).
"""

from __future__ import annotations

import functools
import shutil
import subprocess

__all__ = ["CLEAN_FAMILIES", "HAND_FAMILIES", "CJK_FAMILIES", "CJK_HAND_FAMILIES", "font_file",
           "installed", "cjk_available"]

CLEAN_FAMILIES = ("DejaVu Sans", "Liberation Sans", "Liberation Serif", "DejaVu Serif", "Noto Sans CJK SC",
                  "DejaVu Sans Condensed", "Liberation Mono")
HAND_FAMILIES = ("Humor Sans", "Comic Neue")
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Serif CJK SC")
CJK_HAND_FAMILIES = ("AR PL UKai CN",)


@functools.cache
def font_file(family: str) -> tuple[str, int] | None:
    """The font file and face index fontconfig gives for ``family``; None when it is not installed.

    The index matters for collections (``.ttc``): Noto CJK's Simplified Chinese face is not the first.

    >>> font_file("No Such Font Family") is None
    True
    """
    if shutil.which("fc-match") is None:
        return None
    try:
        out = subprocess.run(["fc-match", "-f", "%{family}\\t%{file}\\t%{index}", family], capture_output=True,
                             text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found, path, index = (out.split("\t") + ["", ""])[:3]
    # fc-match always answers with something: only an answer of the family asked for counts.
    if family.lower() not in [name.strip().lower() for name in found.split(",")]:
        return None
    return (path, int(index or 0)) if path else None


def installed(families: tuple[str, ...]) -> tuple[str, ...]:
    """The families of ``families`` that are installed, in order.

    >>> set(installed(("No Such Font Family",)))
    set()
    """
    return tuple(f for f in families if font_file(f))


@functools.cache
def cjk_available() -> bool:
    """Whether a font that draws Chinese is installed (Noto CJK or AR PL UKai)."""
    return bool(installed(CJK_FAMILIES + CJK_HAND_FAMILIES))
