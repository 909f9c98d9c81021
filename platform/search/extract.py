"""Plain text out of attached files (.txt .md .html .docx .pdf) and HTML bodies."""
from __future__ import annotations

import html
import io
import re
import zipfile
from pathlib import PurePath
from xml.etree import ElementTree

import nh3

MAX_TEXT = 1_000_000         # characters kept of one file's text
MAX_DOCX_PART = 50 * 2**20   # uncompressed bytes of one .docx part we agree to read
EXTRACTED = (".txt", ".md", ".html", ".htm", ".docx", ".pdf")
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_SPACES = re.compile(r"[ \t\r\f\v]+")
_LINES = re.compile(r"\n\s*\n+")


class Unreadable(ValueError):
    """The file claims a format it does not hold (a broken .docx or .pdf)."""


def html_text(markup: str) -> str:
    """The text of an HTML fragment: tags dropped (script and style with their content),
    entities decoded, blocks on their own lines."""
    marked = re.sub(r"(?i)<\s*(br|/p|/div|/li|/h[1-6]|/tr)\b[^>]*>", "\n", markup or "")
    text = nh3.clean(marked, tags=set(), clean_content_tags={"script", "style"})
    return tidy(html.unescape(text))


def tidy(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.replace("\x00", "").split("\n"))
    return _LINES.sub("\n\n", "\n".join(lines)).strip()[:MAX_TEXT]


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") \
            else ("utf-8-sig", "cp1258", "latin-1"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")


def docx_text(data: bytes) -> str:
    """Paragraph text of a .docx (the body, then headers and footers), from its XML."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            extra = sorted(n for n in z.namelist()
                           if re.fullmatch(r"word/(header|footer)\d*\.xml", n))
            names = ["word/document.xml", *extra]
            out = []
            for name in names:
                info = z.getinfo(name)
                if info.file_size > MAX_DOCX_PART:
                    raise Unreadable(f"{name} is too large to read")
                root = ElementTree.fromstring(z.read(name))
                for para in root.iter(f"{_W}p"):
                    parts = []
                    for node in para.iter():
                        if node.tag == f"{_W}t" and node.text:
                            parts.append(node.text)
                        elif node.tag in (f"{_W}tab", f"{_W}br"):
                            parts.append(" ")
                    out.append("".join(parts))
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, EOFError) as e:
        raise Unreadable(f"not a readable .docx file ({e})") from None
    return tidy("\n".join(out))


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            reader.decrypt("")
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise Unreadable(f"not a readable .pdf file ({e})") from None
    return tidy("\n".join(pages))


def extract_text(filename: str, data: bytes) -> str:
    """The searchable text of a file, by its extension ("" for other kinds of file);
    Unreadable when a .docx or .pdf is broken."""
    suffix = PurePath(filename).suffix.lower()
    if suffix in (".txt", ".md"):
        return tidy(_decode(data))
    if suffix in (".html", ".htm"):
        return html_text(_decode(data))
    if suffix == ".docx":
        return docx_text(data)
    if suffix == ".pdf":
        return pdf_text(data)
    return ""
