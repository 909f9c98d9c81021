"""Reading spreadsheets row by row: .xlsx (and .xls, .ods) with python-calamine, .csv with
the csv module, each checked first so a bad file gets one clear sentence, not a traceback.
"""
from __future__ import annotations

import csv
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callboard.engine.errors import ValidationFailed

WORKBOOKS = (".xlsx", ".xlsm", ".xls", ".ods")
SUFFIXES = (*WORKBOOKS, ".csv")
MAX_FILE = 512 * 1024 * 1024         # bytes on disk
MAX_UNPACKED = 3 * 1024 * 1024 * 1024  # bytes of XML inside a workbook
MAX_RATIO = 150                      # unpacked/packed for a member over 16 MB: a zip bomb
# Sheet XML above this (about 130k rows of ten columns) is streamed (io.xlsx_stream):
# python-calamine holds a whole sheet, 800 MB for a million rows of nine columns (measured).
STREAM_ABOVE = 64 * 1024 * 1024


class FileProblem(ValidationFailed):
    """A file that cannot be read as a table (HTTP 422, `{"errors": {"file": [...]}}`)."""

    def __init__(self, message: str):
        super().__init__({"file": [message]})


def check_file(path: Path, name: str | None = None) -> str:
    """The file's kind ("workbook" or "csv") once it passed the cheap checks."""
    name = name or path.name
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise FileProblem(f"'{name}' is not a spreadsheet: send .xlsx or .csv")
    size = path.stat().st_size
    if size == 0:
        raise FileProblem(f"'{name}' is empty")
    if size > MAX_FILE:
        raise FileProblem(f"'{name}' is larger than {MAX_FILE // 2**20} MB; split it")
    if suffix == ".csv":
        with path.open("rb") as f:
            head = f.read(65536)
        if b"\x00" in head:
            raise FileProblem(f"'{name}' is not a text file; save the sheet as CSV UTF-8")
        _decode(head, name, partial=True)
        return "csv"
    if suffix in (".xlsx", ".xlsm", ".ods"):
        _check_zip(path, name)
    return "workbook"


def _check_zip(path: Path, name: str) -> None:
    try:
        with zipfile.ZipFile(path) as z:
            members = z.infolist()
    except (zipfile.BadZipFile, OSError):
        raise FileProblem(f"'{name}' is not an Excel workbook (or it is damaged); "
                          "save it again as .xlsx") from None
    total = 0
    for m in members:
        total += m.file_size
        if m.file_size > 16 * 2**20 and m.file_size > MAX_RATIO * max(m.compress_size, 1):
            raise FileProblem(f"'{name}' unpacks to far more than it holds ({m.filename}: "
                              f"{m.file_size // 2**20} MB from {m.compress_size // 1024} KB); "
                              "refused as a zip bomb")
    if total > MAX_UNPACKED:
        raise FileProblem(f"'{name}' unpacks to {total // 2**20} MB, more than "
                          f"{MAX_UNPACKED // 2**20} MB; split it")
    if not any(m.filename.startswith(("xl/worksheets/", "content.xml")) for m in members):
        raise FileProblem(f"'{name}' is a zip file but not an Excel workbook")


def _decode(data: bytes, name: str, *, partial: bool = False) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if partial and e.start >= len(data) - 3:  # a character cut at the chunk's end
            return data[:e.start].decode("utf-8-sig")
        raise FileProblem(f"'{name}' is not UTF-8 text (byte {e.start + 1}); in Excel use "
                          "Save as > CSV UTF-8") from None


@dataclass
class Table:
    """The header and a stream of (row number, cells) of a file's first sheet."""

    header: list[Any]
    header_row: int
    rows: Iterator[tuple[int, list[Any]]]
    total: int                       # data rows (an estimate for csv)


def open_table(path: Path, name: str | None = None) -> Table:
    """The first sheet of a workbook, or a csv file, as a Table; FileProblem when the
    file cannot be read or holds no header row."""
    name = name or path.name
    kind = check_file(path, name)
    if kind == "csv":
        return _csv_table(path, name)
    return _workbook_table(path, name)


def estimate_rows(path: Path) -> int:
    """A cheap guess at the rows of a file, without reading its cells (0 when it cannot
    tell): an .xlsx's own dimension, else about 250 bytes of sheet XML a row; the lines of
    a text file (counted in its first 16 MB, the rest by their length)."""
    try:
        if not zipfile.is_zipfile(path):
            return _text_lines(path)
        with zipfile.ZipFile(path) as z:
            sheets = [m for m in z.infolist() if m.filename.startswith("xl/worksheets/")
                      and m.filename.endswith(".xml")]
            if not sheets:
                return 0
            with z.open(sheets[0]) as f:
                head = f.read(4096).decode("utf-8", "replace")
        dim = _DIMENSION.search(head)
        return int(dim.group(1)) if dim else sum(m.file_size for m in sheets) // 250
    except (OSError, zipfile.BadZipFile, ValueError, RuntimeError):
        return 0


def _text_lines(path: Path, sample: int = 16 << 20) -> int:
    with open(path, "rb") as f:
        head = f.read(sample)
    lines = head.count(b"\n") + (1 if head and not head.endswith(b"\n") else 0)
    size = path.stat().st_size
    return lines if size <= len(head) else lines * size // max(len(head), 1)


_DIMENSION = re.compile(r'<dimension ref="(?:[A-Z]+\d+:)?[A-Z]+(\d+)"')


def _sheet_xml_size(path: Path) -> int:
    """Bytes of worksheet XML in an .xlsx (0 for other workbooks)."""
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        return 0
    with zipfile.ZipFile(path) as z:
        return sum(m.file_size for m in z.infolist()
                   if m.filename.startswith("xl/worksheets/"))


def _streamed_table(path: Path, name: str) -> Table:
    """A big .xlsx read as it is unpacked (`io.xlsx_stream`), never held whole."""
    import re

    from .xlsx_stream import first_sheet_path, iter_rows

    try:
        with zipfile.ZipFile(path) as z:
            sheet = first_sheet_path(z)
            with z.open(sheet) as f:
                head = f.read(4096).decode("utf-8", "replace")
            size = z.getinfo(sheet).file_size
        dim = re.search(r'<dimension ref="(?:[A-Z]+\d+:)?[A-Z]+(\d+)"', head)
        total = int(dim.group(1)) if dim else size // 200
        rows = iter_rows(str(path))
        header_row, header = _first_nonblank(rows, name)
    except FileProblem:
        raise
    except Exception as e:  # a damaged workbook: say so in one line
        message = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise FileProblem(f"'{name}' cannot be read as a workbook ({message})") from None
    return Table(header, header_row, _guarded(rows, name), max(0, total - header_row))


def _guarded(rows: Iterator[tuple[int, list[Any]]], name: str
             ) -> Iterator[tuple[int, list[Any]]]:
    try:
        yield from rows
    except Exception as e:  # XML broken half-way through
        message = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise FileProblem(f"'{name}' is damaged ({message})") from None


def _workbook_table(path: Path, name: str) -> Table:
    import python_calamine as pc

    if _sheet_xml_size(path) > STREAM_ABOVE:
        return _streamed_table(path, name)

    try:
        wb = pc.CalamineWorkbook.from_path(str(path))
        visible = [m for m in wb.sheets_metadata
                   if str(getattr(m, "visible", "")).lower().endswith("visible")] \
            or wb.sheets_metadata
        if not visible:
            raise FileProblem(f"'{name}' has no sheet")
        sheet = wb.get_sheet_by_name(visible[0].name)
        start = sheet.start or (0, 0)
        rows = sheet.iter_rows()
    except FileProblem:
        raise
    except Exception as e:  # calamine's errors: not a workbook, damaged, password
        message = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise FileProblem(f"'{name}' cannot be read as a workbook ({message})") from None
    first = start[0] + 1
    numbered = ((first + i, list(r)) for i, r in enumerate(rows))
    header_row, header = _first_nonblank(numbered, name)
    total = max(0, (sheet.height or 0) - (header_row - first) - 1)
    return Table(header, header_row, numbered, total)


def _first_nonblank(rows: Iterator[tuple[int, list[Any]]], name: str) -> tuple[int, list[Any]]:
    for n, cells in rows:
        if any(c not in (None, "") for c in cells):
            return n, cells
    raise FileProblem(f"'{name}' has an empty first sheet: no header row")


def _csv_table(path: Path, name: str) -> Table:
    with path.open("rb") as f:
        total = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
        f.seek(0)
        sample = _decode(f.read(65536), name, partial=True)
    first_line = sample.split("\n", 1)[0]
    delimiter = max(",;\t|", key=lambda d: (first_line.count(d), d == ","))

    class dialect(csv.excel):  # Excel's quoting; the delimiter the header row uses
        pass

    dialect.delimiter = delimiter

    def rows() -> Iterator[tuple[int, list[Any]]]:
        with path.open("r", encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f, dialect)
            n = 0
            try:
                for n, cells in enumerate(reader, start=1):
                    yield n, cells
            except UnicodeDecodeError:
                raise FileProblem(f"'{name}' is not UTF-8 text (after row {n}); in Excel "
                                  "use Save as > CSV UTF-8") from None
            except csv.Error as e:
                raise FileProblem(f"'{name}', row {n + 1}: {e}") from None

    stream = rows()
    header_row, header = _first_nonblank(stream, name)
    return Table(header, header_row, stream, max(0, total - header_row))
