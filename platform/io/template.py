"""The import template of an entity, written with openpyxl from the runtime model.

Sheet 1 (the data): row 1 the fields' labels in the tenant's locale (`*` when required),
row 2 their names (the importer matches either and skips this row), a drop-down list on
select columns, phone and date columns formatted as text so Excel keeps leading zeros and
does not turn 01/02/2026 into another date. Sheet 2: instructions, one line per field.
"""
from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from callboard.engine.model import Entity, Field, TenantModel

from .columns import importable_fields

TEXT_TYPES = ("phone", "date", "datetime", "text", "email", "user")
STYLED_ROWS = 1000  # rows with the text format and the drop-down lists
FORMATS = {
    "phone": "as text, with its leading 0 (0901234567 or +84901234567)",
    "date": "dd/mm/yyyy or yyyy-mm-dd (31/01/2026 or 2026-01-31)",
    "datetime": "dd/mm/yyyy hh:mm or yyyy-mm-ddThh:mm, in the tenant's time zone",
    "email": "name@example.com",
    "user": "the user's e-mail or extension; several separated by commas",
    "boolean": "yes / no (or 1 / 0, true / false)",
    "integer": "a whole number", "decimal": "a number", "rating": "a whole number",
    "link": "the id of the linked record",
    "multiselect": "one or more of the options, separated by commas",
    "select": "one of the options (value or label)",
    "url": "https://…",
}
TITLES = {"en": ("Field", "Column name", "Type", "Required", "Options", "Format", "Help"),
          "vi": ("Trường", "Tên cột", "Kiểu", "Bắt buộc", "Lựa chọn", "Định dạng",
                 "Hướng dẫn"),
          "zh": ("字段", "列名", "类型", "必填", "选项", "格式", "说明")}


def template_fields(model: TenantModel, ent: Entity) -> list[Field]:
    """The columns of the template: fields a person may fill, and the owner."""
    return [f for f in importable_fields(model, ent).values() if not f.readonly]


def write_template(model: TenantModel, ent: Entity, path: Path | BinaryIO, *,
                   locale: str | None = None) -> None:
    """Write the template of `ent` to `path` (.xlsx), or to an open binary file."""
    settings = model.settings
    locale = locale if locale in settings.locales else settings.locale
    fields = template_fields(model, ent)
    wb = Workbook()
    ws = wb.active
    ws.title = (ent.plural.text(locale) or ent.name)[:31]
    lists = wb.create_sheet("lists")
    lists.sheet_state = "hidden"
    bold, grey = Font(bold=True), Font(italic=True, color="808080")
    fill = PatternFill("solid", fgColor="DDEBF7")
    list_col = 0
    for i, f in enumerate(fields, start=1):
        letter = get_column_letter(i)
        label = f.label.text(locale) + (" *" if f.required else "")
        head = ws.cell(row=1, column=i, value=label)
        head.font, head.fill = bold, fill
        ws.cell(row=2, column=i, value=f.name).font = grey
        ws.column_dimensions[letter].width = max(14, min(40, len(label) + 4))
        if f.type in TEXT_TYPES:
            ws.column_dimensions[letter].number_format = "@"  # the whole column, and…
            for row in range(3, STYLED_ROWS + 3):  # …its first cells (some apps want these)
                ws.cell(row=row, column=i).number_format = "@"
        if f.type == "select" and f.options:
            list_col += 1
            lc = get_column_letter(list_col)
            lists.cell(row=1, column=list_col, value=f.name)
            for j, o in enumerate(f.options, start=2):
                lists.cell(row=j, column=list_col, value=o.label.text(locale))
            dv = DataValidation(type="list", allow_blank=True, showErrorMessage=True,
                                formula1=f"=lists!${lc}$2:${lc}${len(f.options) + 1}",
                                errorTitle=f.label.text(locale),
                                error="Choose a value from the list")
            ws.add_data_validation(dv)
            dv.add(f"{letter}3:{letter}{STYLED_ROWS + 2}")
    ws.freeze_panes = "A3"
    _instructions(wb, fields, locale)
    if isinstance(path, str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)


def _instructions(wb: Workbook, fields: list[Field], locale: str) -> None:
    ws = wb.create_sheet("instructions")
    ws.append(["Fill the first sheet from row 3: one row per record. Row 1 holds the labels, "
               "row 2 the column names; either is enough to match a column. Leave a cell "
               "empty to keep the current value when updating (upsert). Columns marked * "
               "are required."])
    ws.append([])
    ws.append(list(TITLES.get(locale, TITLES["en"])))
    for cell in ws[3]:
        cell.font = Font(bold=True)
    for f in fields:
        options = ", ".join(f"{o.label.text(locale)} ({o.value})" if o.label.text(locale)
                            != o.value else o.value for o in f.options)
        required = "yes" if f.required else ("when " + str(f.required_if.source)
                                             if f.required_if is not None else "")
        rules = [FORMATS.get(f.type, "text")]
        if f.unique:
            rules.append("unique")
        if f.max_length:
            rules.append(f"at most {f.max_length} characters")
        if f.pattern:
            rules.append(f"pattern {f.pattern}")
        if f.min is not None or f.max is not None:
            rules.append(f"from {f.min if f.min is not None else '…'} to "
                         f"{f.max if f.max is not None else '…'}")
        ws.append([f.label.text(locale), f.name, f.type + (" (several)" if f.multiple else ""),
                   required, options, "; ".join(rules),
                   f.help.text(locale) if f.help else ""])
    for col, width in zip("ABCDEFG", (28, 20, 14, 12, 50, 50, 50), strict=True):
        ws.column_dimensions[col].width = width
    ws["A1"].alignment = Alignment(wrap_text=False)
