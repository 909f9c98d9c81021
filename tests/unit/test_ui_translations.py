"""The shell speaks vi and zh: every message of the screens is translated, and the
compiled catalogues (.mo, what Flask-Babel reads) match their sources (.po)."""
from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from callboard.web.ui import UI_TRANSLATIONS

POT = UI_TRANSLATIONS / "messages.pot"


def test_template_holds_every_message_of_the_sources() -> None:
    found = {msg[2] for msg in extract_from_dir(
        str(UI_TRANSLATIONS.parent), [("**.py", "python"), ("**/templates/**.html", "jinja2")],
        keywords={"_": None, "gettext": None, "lazy_gettext": None})}
    with open(POT, "rb") as f:
        assert found <= {m.id for m in read_po(f)}, "run pybabel extract (docs/ui.md)"


@pytest.mark.parametrize("locale", ["vi", "zh"])
def test_catalogue_complete_and_compiled(locale: str) -> None:
    folder = Path(UI_TRANSLATIONS) / locale / "LC_MESSAGES"
    with open(POT, "rb") as f:
        wanted = {m.id for m in read_po(f) if m.id}
    with open(folder / "messages.po", "rb") as f:
        po = {m.id: m.string for m in read_po(f) if m.id}
    with open(folder / "messages.mo", "rb") as f:
        mo = {m.id: m.string for m in read_mo(f) if m.id}
    assert wanted <= set(po), sorted(wanted - set(po))
    assert all(po[k] for k in wanted), [k for k in wanted if not po[k]]
    assert mo == po
    for msgid, text in po.items():  # placeholders survive translation
        for name in ("%(email)s", "%(count)s", "%(page)s", "%(total)s", "%(number)s"):
            assert (name in msgid) == (name in text), (msgid, text)
