"""Line wrapping that never cuts a name.

``textwrap`` breaks long words anywhere; a kernel function or a field cut in two
(``kvm_set_or_clear_apicv_inh`` / ``ibit``) is what a reader must not see. Here a
line breaks only at a space, or after one of ``( , + = | /`` inside a word (an
argument, value list or path boundary). A single piece longer than the width stays
whole; callers size their columns so that this never happens.
"""

from __future__ import annotations

import re

_PIECE = re.compile(r"[^(,+=|/]*[(,+=|/]|[^(,+=|/]+")

DEFAULT_WIDTH = 80
MIN_WIDTH = 60


def pieces(word: str) -> list[str]:
    """A word split after each argument/value separator."""
    return _PIECE.findall(word) or [word]


def longest_piece(text: str) -> int:
    return max((len(p) for w in text.split() for p in pieces(w)), default=0)


def wrap(text: str, width: int, indent: str = "", subsequent: str | None = None) -> list[str]:
    """Greedy fill of ``text`` into lines of at most ``width`` columns."""
    sub = indent if subsequent is None else subsequent
    lines: list[str] = []
    cur = indent
    fresh = True  # nothing but the indent on the current line
    for word in text.split():
        sep = "" if fresh else " "
        if len(cur) + len(sep) + len(word) <= width:
            cur += sep + word
            fresh = False
            continue
        if not fresh and len(sub) + len(word) <= width:
            lines.append(cur.rstrip())
            cur = sub + word
            continue
        parts = pieces(word)
        first = True
        for p in parts:
            s = ("" if fresh else " ") if first else ""
            if not fresh and len(cur) + len(s) + len(p) > width:
                lines.append(cur.rstrip())
                cur, s = sub, ""
            cur += s + p
            fresh = False
            first = False
    if not fresh or not lines:
        lines.append(cur.rstrip())
    return lines
