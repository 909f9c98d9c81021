"""The search analyzer (diacritics folded, CJK bigrams, offsets kept for highlights), text
extraction from attached files, and the Whoosh backend on its own."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfWriter

from callboard.search.analysis import SearchAnalyzer, fold, terms
from callboard.search.backend import Document
from callboard.search.extract import Unreadable, extract_text, html_text
from callboard.search.whoosh_backend import WhooshBackend


@pytest.mark.parametrize(("text", "expected"), [
    ("Hóa Đơn", ["hoa", "don"]),
    ("đường ống bị vỡ", ["duong", "ong", "bi", "vo"]),
    ("ĐỒNG HỒ NƯỚC", ["dong", "ho", "nuoc"]),
    ("Nguyễn Thị Hương", ["nguyen", "thi", "huong"]),
    ("如何申请退款", ["如何", "何申", "申请", "请退", "退款"]),
    ("退款", ["退款"]),
    ("款", ["款"]),
    ("水费账单2026年", ["水费", "费账", "账单", "2026", "年"]),
    ("Refund 退款 policy", ["refund", "退款", "policy"]),
    ("a.b@x.test, 090-123", ["a", "b", "x", "test", "090", "123"]),
    ("Crème brûlée Straße", ["creme", "brulee", "strasse"]),
    ("", []),
])
def test_terms(text: str, expected: list[str]) -> None:
    assert terms(text) == expected


def test_query_terms_match_indexed_terms() -> None:
    assert fold("hóa đơn") == "hoa don" == fold("hoa don") == fold("HOÁ ĐƠN")
    assert set(terms("退款")) <= set(terms("如何申请退款"))
    assert set(terms("hoa don")) <= set(terms("Thanh toán hóa đơn tiền nước"))


def test_offsets_point_into_the_original_text() -> None:
    text = "Thanh toán hóa đơn 如何申请退款"
    tokens = [(t.text, text[t.startchar:t.endchar], t.pos)
              for t in SearchAnalyzer()(text, chars=True, positions=True)]
    assert tokens[:4] == [("thanh", "Thanh", 0), ("toan", "toán", 1), ("hoa", "hóa", 2),
                          ("don", "đơn", 3)]
    assert tokens[-1] == ("退款", "退款", 8)


def make_docx(*paragraphs: str) -> bytes:
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    body = "".join(f"<w:p><w:r><w:t>{p}</w:t><w:tab/><w:t>x</w:t></w:r></w:p>"
                   for p in paragraphs)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("word/document.xml", f'<w:document xmlns:w="{w}"><w:body>{body}'
                                        f'</w:body></w:document>')
        z.writestr("word/footer1.xml", f'<w:ftr xmlns:w="{w}"><w:p><w:r><w:t>Trang 1'
                                       f'</w:t></w:r></w:p></w:ftr>')
    return buf.getvalue()


def test_extract_each_format() -> None:
    assert extract_text("a.TXT", "Hóa đơn\r\n\r\n\r\nx".encode()) == "Hóa đơn\n\nx"
    assert extract_text("a.md", "# Tiêu đề".encode("utf-8-sig")) == "# Tiêu đề"
    assert extract_text("a.txt", "Hóa đơn".encode("utf-16")) == "Hóa đơn"
    assert extract_text("page.html", b"<h1>A</h1><p>B &amp; C</p><style>p{}</style>") == \
        "A\nB & C"
    assert extract_text("doc.docx", make_docx("Hóa đơn", "退款")) == \
        "Hóa đơn x\n退款 x\nTrang 1"
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    buf = io.BytesIO()
    writer.write(buf)
    assert extract_text("blank.pdf", buf.getvalue()) == ""   # a scan without text is fine
    assert extract_text("photo.png", b"\x89PNG") == ""
    for name, data in (("x.docx", b"PK\x03\x04broken"), ("x.docx", b"plain"),
                       ("x.pdf", b"%PDF-1.7\ngarbage"), ("x.docx", _zip({"a.xml": "x"}))):
        with pytest.raises(Unreadable):
            extract_text(name, data)


def _zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


def test_html_text_drops_markup_and_scripts() -> None:
    assert html_text('<p onclick="x()">Một<br>Hai</p><script>alert(1)</script>') == "Một\nHai"


def test_whoosh_backend_roundtrip(tmp_path: Path) -> None:
    b = WhooshBackend(tmp_path)
    b.index(7, [Document("kb_article", 1, "Hóa đơn tiền nước", body="<b>x</b> & y"),
                Document("kb_article", 2, "如何申请退款", category=5),
                Document("customer", 3, "Nguyễn Văn A")])
    assert [h.id for h in b.search(7, "hoa don", entities=["kb_article"]).hits] == [1]
    assert b.search(7, "hoa don", entities=["customer"]).total == 0
    assert [h.id for h in b.search(7, "退款", entities=["kb_article"], categories=[5]).hits] \
        == [2]
    assert b.search(7, "退款", entities=["kb_article"], categories=[6]).total == 0
    assert b.search(7, "退款", entities=["kb_article"], categories=[]).total == 0
    assert b.search(8, "hoa don", entities=["kb_article"]).total == 0     # another tenant
    assert b.search(7, "!!!", entities=["kb_article"]).total == 0        # no terms at all
    hit = b.search(7, "y", entities=["kb_article"]).hits[0]
    assert list(hit.highlights) == ["body"]            # the stored text is escaped
    assert hit.highlights["body"].endswith("x&lt;/b&gt; &amp; <mark>y</mark>")
    assert "<b>" not in hit.highlights["body"]
    only_two = b.search(7, "hoa don", entities=["kb_article"], visible=lambda keys: set())
    assert only_two.hits == [] and only_two.total == 0
    b.delete(7, [("kb_article", 1)])
    assert b.search(7, "hoa don", entities=["kb_article"]).total == 0
    b.clear(7)
    assert b.count(7) == 0
    with pytest.raises(RuntimeError), b.writing(7) as batch:   # a failed batch is discarded
        batch.add(Document("customer", 9, "Lost"))
        raise RuntimeError
    assert b.count(7) == 0
    b.close()
