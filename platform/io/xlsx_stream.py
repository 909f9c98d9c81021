"""A forward-only reader of an .xlsx sheet, for files too big to hold.

python-calamine reads a whole sheet into memory before the first row is seen (800 MB for
a million rows of nine columns, measured), so above `io.sheets.STREAM_ABOVE` bytes of sheet
XML the first sheet is parsed as it is unpacked (expat through ElementTree.iterparse),
one row at a time. Shared strings are kept packed in one string with an offset array.
Cells come out as calamine gives them: str, float, bool, date or datetime for
date-formatted numbers, None for empty; a row is as wide as its last non-empty cell.
"""
from __future__ import annotations

import io
import posixpath
import re
import zipfile
from array import array
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from xml.etree.ElementTree import iterparse

NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
DATE_FORMATS = {14, 15, 16, 17, 18, 19, 20, 21, 22, 45, 46, 47}
EPOCH = datetime(1899, 12, 30)
_COL = re.compile(r"[A-Z]+")


def first_sheet_path(z: zipfile.ZipFile) -> str:
    """The zip path of the workbook's first visible sheet."""
    rels = {}
    for _, el in iterparse(z.open("xl/_rels/workbook.xml.rels")):
        if el.tag.endswith("Relationship"):
            target = el.get("Target", "")
            rels[el.get("Id")] = target.lstrip("/") if target.startswith("/") else \
                posixpath.normpath(posixpath.join("xl", target))
    for _, el in iterparse(z.open("xl/workbook.xml")):
        if el.tag == f"{NS}sheet" and el.get("state", "visible") == "visible":
            return rels[el.get(f"{REL_NS}id")]
    raise KeyError("no visible sheet")


class SharedStrings:
    """The shared string table, packed: one str and an array of offsets."""

    def __init__(self, z: zipfile.ZipFile):
        buffer = io.StringIO()  # appended as we go: no list of a million strs
        offsets = array("Q", [0])
        total = 0
        if "xl/sharedStrings.xml" in z.namelist():
            root = None
            for event, el in iterparse(z.open("xl/sharedStrings.xml"), ("start", "end")):
                if root is None:
                    root = el
                if event == "end" and el.tag == f"{NS}si":
                    text = "".join(t.text or "" for t in el.iter(f"{NS}t"))
                    buffer.write(text)
                    total += len(text)
                    offsets.append(total)
                    root.remove(el)
        self.text = buffer.getvalue()
        self.offsets = offsets

    def __getitem__(self, i: int) -> str:
        return self.text[self.offsets[i]:self.offsets[i + 1]]


def date_styles(z: zipfile.ZipFile) -> set[int]:
    """Indexes of the cell styles whose number format shows a date or time."""
    if "xl/styles.xml" not in z.namelist():
        return set()
    custom: dict[int, str] = {}
    xfs: list[int] = []
    in_cell_xfs = False
    for event, el in iterparse(z.open("xl/styles.xml"), events=("start", "end")):
        if el.tag == f"{NS}cellXfs":
            in_cell_xfs = event == "start"
        elif event == "end" and el.tag == f"{NS}numFmt":
            custom[int(el.get("numFmtId", "0"))] = el.get("formatCode", "")
        elif event == "end" and el.tag == f"{NS}xf" and in_cell_xfs:
            xfs.append(int(el.get("numFmtId", "0")))
    out = set()
    for i, fmt in enumerate(xfs):
        code = re.sub(r'"[^"]*"|\[[^\]]*\]|\\.', "", custom.get(fmt, "")).lower()
        if fmt in DATE_FORMATS or (fmt in custom and re.search(r"[dy]|h.*m|m.*s", code)):
            out.add(i)
    return out


def _column(ref: str) -> int:
    letters = _COL.match(ref)
    n = 0
    for ch in letters.group(0) if letters else "A":
        n = n * 26 + ord(ch) - 64
    return n - 1


def iter_rows(path: str) -> Iterator[tuple[int, list[Any]]]:
    """(row number, cells) of the first sheet, one row at a time."""
    with zipfile.ZipFile(path) as z:
        sheet = first_sheet_path(z)
        strings = SharedStrings(z)
        dates = date_styles(z)
        row_tag, cell_tag = f"{NS}row", f"{NS}c"
        v_tag, is_tag, t_tag = f"{NS}v", f"{NS}is", f"{NS}t"
        number = 0
        parent = None
        for event, el in iterparse(z.open(sheet), ("start", "end")):
            if event == "start":
                if el.tag == f"{NS}sheetData":
                    parent = el
                continue
            if el.tag != row_tag:
                continue
            number = int(el.get("r") or number + 1)
            cells: list[Any] = []
            for c in el.iter(cell_tag):
                ref = c.get("r")
                col = _column(ref) if ref else len(cells)
                kind = c.get("t", "n")
                if kind == "inlineStr":
                    node = c.find(is_tag)
                    value: Any = "".join(t.text or "" for t in node.iter(t_tag)) \
                        if node is not None else None
                else:
                    raw = c.findtext(v_tag)
                    if raw is None:
                        continue
                    if kind == "s":
                        value = strings[int(raw)]
                    elif kind == "b":
                        value = raw == "1"
                    elif kind in ("str", "e"):
                        value = raw
                    elif kind == "d":
                        value = datetime.fromisoformat(raw)
                    else:
                        value = float(raw)
                        if int(c.get("s", "0")) in dates:
                            ms = round(value * 86_400_000)  # to the millisecond, as Excel
                            value = EPOCH + timedelta(milliseconds=ms)
                            if ms % 86_400_000 == 0:
                                value = value.date()
                if value is None or value == "":
                    continue
                if col >= len(cells):
                    cells.extend([None] * (col - len(cells) + 1))
                cells[col] = value
            if parent is not None:
                parent.remove(el)  # the only child: nothing of the sheet piles up
            yield number, cells
