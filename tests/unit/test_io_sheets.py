"""Reading sheets: the streaming .xlsx reader gives what python-calamine gives, and files
that are not tables are refused with one sentence."""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from callboard.io import sheets
from callboard.io.sheets import FileProblem, open_table


def workbook(path: Path, *, write_only: bool) -> Path:
    wb = openpyxl.Workbook(write_only=write_only)
    ws = wb.create_sheet("data") if write_only else wb.active
    if not write_only:
        hidden = wb.create_sheet("first but hidden", 0)
        hidden.sheet_state = "hidden"
        hidden.append(["not", "this"])
    rows = [["name", "phone", "when", "ok", "n"],
            ["Nguyễn Văn A", 901234567, date(2026, 1, 31), True, 1.5],
            [None, None, None, None, None],
            ["Trần B", "0901234568", datetime(2026, 2, 1, 8, 30), False, None],
            ["中文", None, None, None, 3]]
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


def rows_of(path: Path) -> tuple[list, list]:
    table = open_table(path)
    out = [(n, [c for c in cells]) for n, cells in table.rows]
    return table.header, [(n, _trim(c)) for n, c in out if any(x not in (None, "") for x in c)]


def _trim(cells: list) -> list:
    cells = [None if c == "" else c for c in cells]
    while cells and cells[-1] is None:
        cells.pop()
    return cells


@pytest.mark.parametrize("write_only", [True, False])
def test_streaming_reader_matches_calamine(tmp_path: Path, write_only: bool,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    path = workbook(tmp_path / "w.xlsx", write_only=write_only)
    by_calamine = rows_of(path)
    monkeypatch.setattr(sheets, "STREAM_ABOVE", 0)
    streamed = rows_of(path)
    assert streamed == by_calamine
    header, rows = streamed
    assert header == ["name", "phone", "when", "ok", "n"]
    assert rows[0] == (2, ["Nguyễn Văn A", 901234567.0, date(2026, 1, 31), True, 1.5])
    assert rows[1][0] == 4 and rows[1][1][2] == datetime(2026, 2, 1, 8, 30)


def test_streaming_reader_refuses_damage(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import zipfile

    path = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(workbook(tmp_path / "w.xlsx", write_only=True)) as src, \
            zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.startswith("xl/worksheets/"):
                data = data[: len(data) // 2]  # cut in the middle of the XML
            dst.writestr(item, data)
    monkeypatch.setattr(sheets, "STREAM_ABOVE", 0)
    with pytest.raises(FileProblem, match=r"damaged|cannot be read"):
        rows_of(path)


def test_estimated_rows(tmp_path: Path) -> None:
    """The guess by which a web server runs a large import apart: short CSV lines are
    counted, not guessed from the file's size; a large text file is counted in its head."""
    short = tmp_path / "short.csv"
    short.write_text("name,phone\n" + "".join(f"A{i:05d},09{i:08d}\n" for i in range(2500)))
    assert sheets.estimate_rows(short) == 2501
    no_end = tmp_path / "no-end.csv"
    no_end.write_text("name\nA\nB")
    assert sheets.estimate_rows(no_end) == 3
    assert sheets._text_lines(short, sample=1000) in range(2400, 2600)
