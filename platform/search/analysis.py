"""Text analysis shared by indexing and querying: Vietnamese diacritics folded (đ -> d
too), everything lower-cased, and CJK runs split into overlapping bigrams, so "hoa don"
finds "hóa đơn" and "退款" finds "如何申请退款".

`terms()` gives the plain term list (also used to feed SQLite FTS5 in the benchmark);
`SearchAnalyzer()` is the same logic as a Whoosh analyzer that keeps character offsets
for highlighting.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

from whoosh.analysis import Token, Tokenizer

# Han, Hiragana, Katakana, Hangul syllables: scripts written without spaces.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_WORD = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+")
_IS_CJK = re.compile(rf"[{_CJK}]")
_SPECIAL = str.maketrans({"đ": "d", "Đ": "d", "ı": "i", "ł": "l", "Ł": "l", "ø": "o",
                          "Ø": "o", "ß": "ss"})


@lru_cache(maxsize=65536)
def fold(word: str) -> str:
    """Lower-case `word` without its diacritics: "Hóa Đơn" -> "hoa don"."""
    decomposed = unicodedata.normalize("NFKD", word.translate(_SPECIAL))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def spans(text: str) -> Iterator[tuple[str, int, int]]:
    """(term, start, end) for every term of `text`, offsets into `text`."""
    for m in _WORD.finditer(text):
        run, start = m.group(), m.start()
        if _IS_CJK.match(run):
            if len(run) == 1:
                yield run, start, start + 1
            for i in range(len(run) - 1):
                yield run[i:i + 2], start + i, start + i + 2
        else:
            yield fold(run), start, m.end()


def terms(text: str) -> list[str]:
    """The terms of `text`, in order ("Hóa đơn 退款" -> ["hoa", "don", "退款"])."""
    return [t for t, _, _ in spans(text or "")]


class Weighted(str):
    """Text made of parts of different weight: `Weighted([(title, 6.0), (body, 2.0)])`."""

    parts: list[tuple[str, float]]

    def __new__(cls, parts: list[tuple[str, float]]) -> Weighted:
        value = super().__new__(cls, "\n".join(text for text, _ in parts))
        value.parts = list(parts)
        return value


class FoldingTokenizer(Tokenizer):
    """A Whoosh tokenizer yielding `spans()`; positions, character offsets and boosts
    included."""

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))

    def __call__(self, value: str, positions: bool = False, chars: bool = False,
                 keeporiginal: bool = False, removestops: bool = True, start_pos: int = 0,
                 start_char: int = 0, tokenize: bool = True, mode: str = "",
                 **kwargs: object) -> Iterator[Token]:
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        if not tokenize:
            token.original = token.text = value
            token.boost, token.stopped = 1.0, False
            if positions:
                token.pos = start_pos
            if chars:
                token.startchar, token.endchar = start_char, start_char + len(value)
            yield token
            return
        # A Weighted value is one field made of weighted parts (a title counting more than
        # a body); offsets then run on over the parts.
        parts = getattr(value, "parts", None) or [(value, 1.0)]
        pos, offset = start_pos, start_char
        for text, boost in parts:
            for term, start, end in spans(text):
                token.text = term
                token.boost, token.stopped = boost, False
                if keeporiginal:
                    token.original = text[start:end]
                if positions:
                    token.pos = pos
                if chars:
                    token.startchar, token.endchar = offset + start, offset + end
                pos += 1
                yield token
            offset += len(text) + 1


def SearchAnalyzer() -> FoldingTokenizer:
    """The analyzer of every text field of the search indexes."""
    return FoldingTokenizer()
