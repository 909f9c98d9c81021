"""Knowledge base over HTTP on SQLite and PostgreSQL: categories, the publishing workflow,
sanitised bodies, attachments with their text indexed, and search as each role sees it."""
from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest

DOCX_TYPES = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.'
              'openxmlformats.org/package/2006/content-types"><Default Extension="xml" '
              'ContentType="application/xml"/><Override PartName="/word/document.xml" '
              'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.'
              'document.main+xml"/></Types>')
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def make_docx(*paragraphs: str) -> bytes:
    """A minimal .docx (a zip holding word/document.xml) with these paragraphs."""
    body = "".join(f"<w:p><w:r><w:t>{p}</w:t></w:r></w:p>" for p in paragraphs)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", DOCX_TYPES)
        z.writestr("word/document.xml", f'<?xml version="1.0" encoding="UTF-8"?>'
                                        f'<w:document xmlns:w="{W}"><w:body>{body}'
                                        f'</w:body></w:document>')
    return buf.getvalue()


def make_pdf(text: str) -> bytes:
    """A one-page PDF showing `text` in Helvetica, written by hand (xref included)."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
               b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def upload(api: Any, entity: str, rid: int, name: str, data: bytes) -> Any:
    return api.post(f"/records/{entity}/{rid}/attachments",
                    data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def article(api: Any, **fields: Any) -> dict[str, Any]:
    r = api.post("/records/kb_article", json=fields)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def publish(api: Any, rid: int) -> None:
    r = api.post(f"/records/kb_article/{rid}/transitions/publish", json={})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "published"


def ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["items"]]


@pytest.fixture
def kb(as_: Any) -> dict[str, Any]:
    """A category tree (Billing > Refunds) and three articles, two published; the draft
    has a .docx attachment."""
    sup = as_("water", "supervisor")
    billing = sup.post("/records/kb_category", json={"name": "Billing"}).get_json()
    refunds = sup.post("/records/kb_category",
                       json={"name": "Refunds", "parent": billing["id"]}).get_json()
    bill = article(sup, title="Cách tra cứu hóa đơn tiền nước", keywords="hóa đơn, cước",
                   body="<p>Khách hàng tra <b>hóa đơn</b> theo mã khách hàng.</p>",
                   category=billing["id"])
    refund = article(sup, title="如何申请退款", keywords="退款 退费",
                     body="<p>客户可以在三十天内申请退款。</p>", category=refunds["id"])
    draft = article(sup, title="Meter replacement schedule", body="<p>Draft notes</p>")
    publish(sup, bill["id"])
    publish(sup, refund["id"])
    r = upload(sup, "kb_article", refund["id"], "policy.docx",
               make_docx("Refund policy", "Customers quote the voucher code ZEPHYRINE."))
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["text_length"] > 20
    r = upload(sup, "kb_article", draft["id"], "notes.docx", make_docx("quartzite gasket"))
    assert r.status_code == 201
    return {"billing": billing, "refunds": refunds, "bill": bill, "refund": refund,
            "draft": draft}


def test_an_agent_searches_without_diacritics_in_chinese_and_in_attachments(
        as_: Any, kb: dict[str, Any]) -> None:
    agent = as_("water", "agent")
    r = agent.get("/kb/search", query_string={"q": "hoa don"})
    body = r.get_json()
    assert ids(r) == [kb["bill"]["id"]] and body["total"] == 1
    hit = body["items"][0]
    assert hit["title"] == "Cách tra cứu hóa đơn tiền nước" and hit["score"] > 0
    assert "<mark>hóa</mark> <mark>đơn</mark>" in hit["highlights"]["title"]

    r = agent.get("/kb/search", query_string={"q": "退款"})
    assert ids(r) == [kb["refund"]["id"]]
    assert "<mark>退款</mark>" in r.get_json()["items"][0]["highlights"]["title"]

    r = agent.get("/kb/search", query_string={"q": "zephyrine"})   # only the .docx has it
    assert ids(r) == [kb["refund"]["id"]]
    assert "<mark>ZEPHYRINE</mark>" in r.get_json()["items"][0]["highlights"]["attachments"]

    # the draft, its attachment included, exists for a supervisor only
    assert ids(agent.get("/kb/search", query_string={"q": "meter replacement"})) == []
    assert ids(agent.get("/kb/search", query_string={"q": "quartzite"})) == []
    sup = as_("water", "supervisor")
    assert ids(sup.get("/kb/search", query_string={"q": "quartzite"})) == [kb["draft"]["id"]]
    # every word must match (AND), in any field
    assert ids(agent.get("/kb/search", query_string={"q": "hoa don zephyrine"})) == []
    # another tenant finds nothing of ours
    assert ids(as_("coffee", "owner").get("/kb/search", query_string={"q": "hoa don"})) == []


def test_title_beats_keywords_beats_body_beats_attachments(as_: Any) -> None:
    sup = as_("water", "supervisor")
    made = {}
    for where in ("attachments", "body", "keywords", "title"):
        fields = {"title": f"Article {where}", "body": "<p>text</p>"}
        if where != "attachments":
            fields[where] = f"{fields.get(where, '')} wombat"
        made[where] = article(sup, **fields)["id"]
        publish(sup, made[where])
    assert upload(sup, "kb_article", made["attachments"], "a.txt", b"wombat").status_code == 201
    found = ids(as_("water", "agent").get("/kb/search", query_string={"q": "wombat"}))
    assert found == [made["title"], made["keywords"], made["body"], made["attachments"]]


def test_category_filter_includes_sub_categories(as_: Any, kb: dict[str, Any]) -> None:
    agent = as_("water", "agent")
    both = {"q": "khach hang"}
    assert ids(agent.get("/kb/search", query_string={**both, "category": kb["billing"]["id"]})
               ) == [kb["bill"]["id"]]
    q = {"q": "退款"}
    assert ids(agent.get("/kb/search", query_string={**q, "category": kb["billing"]["id"]})
               ) == [kb["refund"]["id"]]        # Refunds sits under Billing
    assert ids(agent.get("/kb/search", query_string={**q, "category": kb["refunds"]["id"]})
               ) == [kb["refund"]["id"]]
    assert ids(agent.get("/kb/search", query_string={"q": "hoa don",
                                                     "category": kb["refunds"]["id"]})) == []
    tree = agent.get("/kb/categories").get_json()["items"]
    assert [(c["name"], [d["name"] for d in c["children"]]) for c in tree] == \
        [("Billing", ["Refunds"])]
    bad = agent.get("/kb/search", query_string={**q, "category": "x"})
    assert bad.status_code == 422 and "category" in bad.get_json()["errors"]
    other = as_("coffee", "owner").post("/records/kb_category", json={"name": "Menu"})
    r = agent.get("/kb/search", query_string={**q, "category": other.get_json()["id"]})
    assert r.status_code == 404


def test_search_input_errors_are_422(as_: Any) -> None:
    agent = as_("water", "agent")
    for args in ({}, {"q": "  "}, {"q": "x", "limit": "0"}, {"q": "x", "limit": "abc"},
                 {"q": "x" * 501}):
        r = agent.get("/kb/search", query_string=args)
        assert r.status_code == 422 and "errors" in r.get_json(), args
    assert agent.client.get("/api/v1/kb/search?q=x").status_code == 401


def test_agents_read_published_articles_supervisors_drafts_too(
        as_: Any, kb: dict[str, Any]) -> None:
    agent, sup = as_("water", "agent"), as_("water", "supervisor")
    draft = kb["draft"]["id"]
    assert agent.get(f"/records/kb_article/{draft}").status_code == 404
    assert agent.get(f"/kb/articles/{draft}").status_code == 404
    assert agent.get(f"/records/kb_article/{draft}/attachments").status_code == 404
    assert sup.get(f"/kb/articles/{draft}").status_code == 200
    assert sorted(ids(agent.get("/records/kb_article"))) == sorted(
        [kb["bill"]["id"], kb["refund"]["id"]])
    assert len(ids(sup.get("/records/kb_article"))) == 3
    # published articles are shared by the tenant, whoever wrote them
    assert agent.get(f"/kb/articles/{kb['bill']['id']}").status_code == 200
    assert as_("water", "agent_b").get(f"/kb/articles/{kb['bill']['id']}").status_code == 200
    # another tenant's article does not exist
    assert as_("coffee", "owner").get(f"/kb/articles/{kb['bill']['id']}").status_code == 404
    # an agent writes a draft: its own to read and submit, not a colleague's
    mine = article(agent, title="Tips for night shifts")
    assert agent.get(f"/records/kb_article/{mine['id']}").status_code == 200
    assert as_("water", "agent2").get(f"/records/kb_article/{mine['id']}").status_code == 404
    r = agent.post(f"/records/kb_article/{mine['id']}/transitions/publish", json={})
    assert r.status_code == 403
    # archived: gone for agents
    assert sup.post(f"/records/kb_article/{kb['bill']['id']}/transitions/archive",
                    json={}).status_code == 200
    assert agent.get(f"/kb/articles/{kb['bill']['id']}").status_code == 404
    assert ids(agent.get("/kb/search", query_string={"q": "hoa don"})) == []
    assert ids(sup.get("/kb/search", query_string={"q": "hoa don"})) == [kb["bill"]["id"]]


def test_article_bodies_are_sanitised(as_: Any) -> None:
    sup = as_("water", "supervisor")
    made = article(sup, title="Safe", body='<p onclick="steal()">Hi <b>there</b></p>'
                   '<script>alert(1)</script><a href="javascript:alert(2)">x</a>'
                   '<img src="https://ex.test/a.png" onerror="x()"><iframe src="//e"></iframe>')
    body = sup.get(f"/records/kb_article/{made['id']}").get_json()["body"]
    assert "<b>there</b>" in body and '<img src="https://ex.test/a.png">' in body
    for bad in ("script", "onclick", "onerror", "javascript:", "iframe", "alert(1)"):
        assert bad not in body, body
    r = sup.patch(f"/records/kb_article/{made['id']}", json={"body": "<style>x</style>ok"})
    assert r.get_json()["body"] == "ok"


def test_a_category_cannot_move_under_itself(as_: Any) -> None:
    sup = as_("water", "supervisor")
    a = sup.post("/records/kb_category", json={"name": "A"}).get_json()
    b = sup.post("/records/kb_category", json={"name": "B", "parent": a["id"]}).get_json()
    for parent in (b["id"], a["id"]):
        r = sup.patch(f"/records/kb_category/{a['id']}", json={"parent": parent})
        assert r.status_code == 422 and "parent" in r.get_json()["errors"]
    assert sup.get(f"/records/kb_category/{a['id']}").get_json().get("parent") is None


def test_attachments_text_of_each_format_is_found(as_: Any) -> None:
    sup, agent = as_("water", "supervisor"), as_("water", "agent")
    made = article(sup, title="Formats")
    publish(sup, made["id"])
    files = {"a.txt": b"Plain tangerine", "b.md": b"# Heading\n\nmarkdown pomelo",
             "c.html": b"<html><body><p>html kumquat</p><script>var x</script></body></html>"
, "d.docx": make_docx("docx rambutan"), "e.pdf": make_pdf("pdf durian"),
             "f.bin": b"\x00\x01 binary lychee"}
    for name, data in files.items():
        r = upload(sup, "kb_article", made["id"], name, data)
        assert r.status_code == 201, (name, r.get_json())
    for word in ("tangerine", "pomelo", "kumquat", "rambutan", "durian"):
        assert ids(agent.get("/kb/search", query_string={"q": word})) == [made["id"]], word
    assert ids(agent.get("/kb/search", query_string={"q": "lychee"})) == []  # not extracted
    listed = agent.get(f"/records/kb_article/{made['id']}/attachments").get_json()["items"]
    assert [a["filename"] for a in listed] == list(files)
    pdf = next(a for a in listed if a["filename"] == "e.pdf")
    got = agent.get(f"/records/kb_article/{made['id']}/attachments/{pdf['id']}")
    assert got.status_code == 200 and got.data == files["e.pdf"]
    assert "attachment" in got.headers["Content-Disposition"]
    # removing a file removes its words from the index
    docx = next(a for a in listed if a["filename"] == "d.docx")
    assert agent.delete(f"/records/kb_article/{made['id']}/attachments/{docx['id']}"
                        ).status_code == 403
    assert sup.delete(f"/records/kb_article/{made['id']}/attachments/{docx['id']}"
                      ).status_code == 204
    assert ids(agent.get("/kb/search", query_string={"q": "rambutan"})) == []


def test_attachment_errors_and_isolation(app: Any, as_: Any, users: Any) -> None:
    agent, agent2 = as_("water", "agent"), as_("water", "agent2")
    customer = agent.post("/records/customer", json={"name": "Lê Văn Tám",
                                                     "phone": "0912345678"}).get_json()
    r = upload(agent, "customer", customer["id"], "contract.txt", b"signed on Monday")
    assert r.status_code == 201
    aid = r.get_json()["id"]
    path = f"/records/customer/{customer['id']}/attachments"
    # another agent, another tenant: the record (and so its files) does not exist
    assert agent2.get(path).status_code == 404
    assert agent2.get(f"{path}/{aid}").status_code == 404
    assert upload(agent2, "customer", customer["id"], "x.txt", b"x").status_code == 404
    assert as_("coffee", "owner").get(f"{path}/{aid}").status_code == 404
    assert agent.get(f"{path}/999999").status_code == 404
    assert agent.get(f"{path}/99999999999999999999").status_code == 404
    # bad uploads are 4xx with errors
    r = agent.post(path, data={}, content_type="multipart/form-data")
    assert r.status_code == 422 and "file" in r.get_json()["errors"]
    r = upload(agent, "customer", customer["id"], "broken.docx", b"not a zip")
    assert r.status_code == 422 and "docx" in r.get_json()["errors"]["file"][0]
    r = upload(agent, "customer", customer["id"], "broken.pdf", b"%PDF-1.4 nonsense")
    assert r.status_code == 422
    app.config["CALLBOARD_ATTACHMENT_MAX_BYTES"] = 1000
    r = upload(agent, "customer", customer["id"], "big.txt", b"x" * 1001)
    assert r.status_code == 413 and "limit" in r.get_json()["errors"]["_"][0]
    assert len(agent.get(path).get_json()["items"]) == 1
    # files live under the data dir, not in the database
    stored = list((app.extensions["callboard"].settings.data_dir / "attachments").rglob("*.txt"))
    assert [p.read_bytes() for p in stored] == [b"signed on Monday"]
