"""`callboard check` on deliberately broken bundles prints exactly the expected problems.

Each folder under tests/bundles/invalid/ is a small, complete bundle with one theme of
mistakes and an `expected.txt` holding the exact stdout of `callboard check .` run inside
it: one `FILE:LINE:COL: PATH: message` line per problem, sorted.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from callboard.cli import main

INVALID = Path(__file__).resolve().parents[1] / "bundles" / "invalid"
BUNDLES = sorted(p for p in INVALID.iterdir() if p.is_dir())


def test_there_are_enough_invalid_bundles() -> None:
    assert len(BUNDLES) >= 18
    for bundle in BUNDLES:
        assert (bundle / "expected.txt").is_file(), f"{bundle.name} has no expected.txt"


@pytest.mark.parametrize("bundle", BUNDLES, ids=[b.name for b in BUNDLES])
def test_check_reports_every_problem(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(bundle)
    result = CliRunner().invoke(main, ["check", "."])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"check crashed: {result.exception!r}")
    assert result.exit_code == 1, result.output
    expected = (bundle / "expected.txt").read_text("utf-8").splitlines()
    assert expected, "expected.txt must list at least one problem"
    actual = result.stdout.splitlines()
    missing = "\n  ".join(line for line in expected if line not in actual) or "(none)"
    extra = "\n  ".join(line for line in actual if line not in expected) or "(none)"
    assert actual == expected, f"missing:\n  {missing}\nunexpected:\n  {extra}"


@pytest.mark.parametrize("bundle", BUNDLES, ids=[b.name for b in BUNDLES])
def test_expected_lines_are_well_formed(bundle: Path) -> None:
    """Each expected line names a file of the bundle (or the missing tenant.yaml) and a
    line that exists in it, so a broken expectation is caught before the engine is blamed."""
    lines = (bundle / "expected.txt").read_text("utf-8").splitlines()
    assert lines == sorted(lines, key=_sort_key)
    for line in lines:
        file, row, col, rest = line.split(":", 3)
        assert rest.startswith(" ") and ": " in rest[1:], line
        assert int(row) >= 1 and int(col) >= 1, line
        path = bundle / file
        if not path.exists():
            assert file == "tenant.yaml", line
            continue
        text = path.read_text("utf-8")
        assert int(row) <= max(1, len(text.splitlines())), line


def _sort_key(line: str) -> tuple[str, int, int]:
    file, row, col, _ = line.split(":", 3)
    return file, int(row), int(col)


def test_a_schema_error_raises_no_false_alarms_elsewhere(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """customer.member_since has type 'dat': the field is cut, and nothing that uses it
    (the IVR condition, the customer's list, form and screen pop, the other entities and
    ticket types) is reported again; only the broken definitions themselves are."""
    monkeypatch.chdir(INVALID / "19_no_cascade")
    result = CliRunner().invoke(main, ["check", "."])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "entities/customer.yaml", "entities/membership.yaml", "ticket_types/renewal.yaml"]
    assert all(".type: " in line and "is not a field type" in line for line in lines)
    assert not any(line.startswith("ivr/") for line in lines)


def test_check_missing_folder_is_one_line_without_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_bundle"
    result = CliRunner().invoke(main, ["check", str(missing)])
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "no_such_bundle" in lines[0]
    assert "Traceback" not in result.output


def test_check_a_file_instead_of_a_folder(tmp_path: Path) -> None:
    file = tmp_path / "tenant.yaml"
    file.write_text("name: Test\n", "utf-8")
    result = CliRunner().invoke(main, ["check", str(file)])
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output
