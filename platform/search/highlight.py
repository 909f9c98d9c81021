"""Highlights: the fragments of a text where a query's terms occur, matches in `<mark>`,
the rest HTML-escaped. Matching runs on a folded copy of the text of the same length
(one character for one), so it costs a `str.translate` and one regular expression, not a
tokenisation of the whole text (attachments can be long)."""
from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from .analysis import _CJK, fold

SURROUND = 40    # characters of context either side of a match
MAX_CHARS = 200  # characters of one fragment at most


def _fold_char(c: str) -> str:
    folded = fold(c)
    return folded if len(folded) == 1 else c.lower() if len(c.lower()) == 1 else c


# Latin letters (with Vietnamese's) folded and lower-cased, one character for one.
_TABLE = {cp: _fold_char(chr(cp)) for r in ((0x41, 0x5A), (0xC0, 0x24F), (0x1E00, 0x1EFF))
          for cp in range(r[0], r[1] + 1)
          if unicodedata.category(chr(cp)).startswith("L") and _fold_char(chr(cp)) != chr(cp)}


@lru_cache(maxsize=256)
def _pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = []
    for w in sorted(words, key=len, reverse=True):
        if re.match(f"[{_CJK}]", w):
            alternatives.append(re.escape(w))
        else:  # a whole word (\w: cheap to compile, unlike a class without CJK and _)
            alternatives.append(rf"(?<!\w){re.escape(w)}(?!\w)")
    return re.compile("|".join(alternatives))


def highlight(text: str, words: Iterable[str], top: int = 2) -> str:
    """Up to `top` fragments of `text` around the query's (analysed) `words`, joined by
    "…"; "" when none occurs."""
    words = tuple(sorted(set(words)))
    if not text or not words:
        return ""
    folded = text.translate(_TABLE).lower()
    if len(folded) != len(text):  # a rare character changed length when lower-cased
        folded = text.translate(_TABLE)
    spans = [m.span() for m in _pattern(words).finditer(folded)]
    if not spans:
        return ""
    fragments: list[list[tuple[int, int]]] = []
    for start, end in spans:
        if fragments and end - fragments[-1][0][0] <= MAX_CHARS - 2 * SURROUND:
            fragments[-1].append((start, end))
        elif len(fragments) < top:
            fragments.append([(start, end)])
        else:
            break
    return " … ".join(_render(text, group) for group in fragments)


def _render(text: str, group: list[tuple[int, int]]) -> str:
    begin = max(0, group[0][0] - SURROUND)
    finish = min(len(text), group[-1][1] + SURROUND)
    if begin > 0:  # start and end on a word boundary
        space = text.find(" ", begin, group[0][0])
        begin = space + 1 if space != -1 else begin
    if finish < len(text):
        space = text.rfind(" ", group[-1][1], finish)
        finish = space if space != -1 else finish
    out, at = [], begin
    for start, end in group:
        out.append(html.escape(text[at:start], quote=False))
        out.append(f"<mark>{html.escape(text[start:end], quote=False)}</mark>")
        at = end
    out.append(html.escape(text[at:finish], quote=False))
    return "".join(out).replace("\n", " ").strip()
