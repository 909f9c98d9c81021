"""Jobs through the HTTP API on SQLite and PostgreSQL: inline without Redis, on RQ with the
real Redis and RQ's worker; status, progress and result; who may see a job and download
its files; import, revert, template and bulk delete as a user would use them."""
from __future__ import annotations

import io
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from callboard.engine.settings import Settings
from callboard.engine.tables import jobs
from callboard.jobs import enqueue, get_job
from callboard.jobs.runner import QueueUnavailable, wait_for_reapers
from callboard.web.app import create_app
from tests.conftest import need

REDIS_URL = os.environ.get("CALLBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def book(rows: list[list[Any]]) -> bytes:
    wb = openpyxl.Workbook()
    for row in rows:
        wb.active.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def upload(api: Any, path: str, content: bytes, name: str = "list.xlsx", **form: Any) -> Any:
    return api.post(path, data={"file": (io.BytesIO(content), name), **form},
                    content_type="multipart/form-data")


def sheet(content: bytes) -> list[tuple[Any, ...]]:
    return list(openpyxl.load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True))


def finished(api: Any, job: int) -> dict[str, Any]:
    r = api.get(f"/jobs/{job}")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["status"] == "done", body
    assert body["stage"] is None   # a finished job is in no stage
    return body


# -- the new user's tour ---------------------------------------------------------------------
def test_template_fill_import_fix_rejected_and_upsert(as_: Callable[..., Any]) -> None:
    """Download the template, fill 2,000 rows with a few mistakes, import, open the
    rejected rows, fix them, import again with upsert by phone."""
    owner = as_("water", "owner")
    r = owner.get("/import/customer/template")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    wb = openpyxl.load_workbook(io.BytesIO(r.data))
    ws = wb.worksheets[0]
    names = [c.value for c in ws[2]]
    col = {n: i for i, n in enumerate(names)}
    bad = {17: ("phone", "12345"), 400: ("customer_type", "hotel"),
           1999: ("email", "not-an-email")}
    for i in range(2000):
        row = [None] * len(names)
        row[col["name"]] = f"Khách hàng {i}"
        row[col["phone"]] = 930000000 + i  # typed as a number: the 0 is lost
        row[col["customer_type"]] = "Hộ gia đình"
        row[col["email"]] = f"kh{i}@example.vn"
        if i in bad:
            row[col[bad[i][0]]] = bad[i][1]
        for c, v in enumerate(row):
            ws.cell(row=3 + i, column=c + 1, value=v)
    filled = io.BytesIO()
    wb.save(filled)
    r = upload(owner, "/import/customer", filled.getvalue(), "khach-hang.xlsx")
    assert r.status_code == 202, r.get_json()
    job = finished(owner, r.get_json()["job"])
    res = job["result"]
    assert (res["created"], res["failed"], res["updated"]) == (1997, 3, 0)
    assert job["progress"] == 1.0 and res["errors_file"] == "khach-hang-rejected.xlsx"
    assert job["files"] == {res["errors_file"]:
                            f"/api/v1/jobs/{job['id']}/files/{res['errors_file']}"}
    r = owner.get(job["files"][res["errors_file"]].removeprefix("/api/v1"))
    assert r.status_code == 200
    rows = sheet(r.data)
    header = list(rows[0])
    assert header[-2:] == ["row", "error"]
    errors = {row[header.index("row")]: row[-1] for row in rows[1:]}
    assert sorted(errors) == [20, 403, 2002]  # sheet rows: data starts on row 3
    assert "is not a phone number" in errors[20] and "hotel" in errors[403]
    # Fix the three rows in the rejected file and send it back, as an upsert by phone.
    fixed = [header[:-2]]
    for row in rows[1:]:
        row = list(row[:-2])
        row[col["phone"]] = f"09{row[col['name']].split()[-1]:>08}"
        row[col["customer_type"]] = "residential"
        row[col["email"]] = None
        fixed.append(row)
    fixed.append(fixed[1][:])  # and one row that is already there: updated, not doubled
    fixed[-1][col["phone"]] = "0930000005"
    fixed[-1][col["name"]] = "Khách hàng 5 (đổi tên)"
    r = upload(owner, "/import/customer", book(fixed), mode="upsert", key="phone")
    res = finished(owner, r.get_json()["job"])["result"]
    assert (res["created"], res["updated"], res["failed"]) == (3, 1, 0), res
    listed = owner.get("/records/customer?per_page=1").get_json()
    assert listed["total"] == 2000
    found = owner.get("/records/customer?phone=0930000005").get_json()["items"]
    assert [c["name"] for c in found] == ["Khách hàng 5 (đổi tên)"]
    assert found[0]["phone"] == "+84930000005"


# -- visibility of jobs and their files ------------------------------------------------------
def test_jobs_are_seen_by_their_user_and_managers_only(app: Flask,
                                                        as_: Callable[..., Any]) -> None:
    agent = as_("water", "agent")
    r = upload(agent, "/import/customer", book([["name", "phone"], ["A", "0901000001"],
                                                 ["B", "bad"]]))
    job = finished(agent, r.get_json()["job"])
    assert job["result"]["created"] == 1
    url = f"/jobs/{job['id']}"
    assert as_("water", "admin").get(url).status_code == 200
    assert as_("water", "owner").get(f"{url}/file").status_code == 200
    assert as_("water", "supervisor").get(url).status_code == 200  # the agent's team
    assert [j["id"] for j in as_("water", "supervisor").get("/jobs").get_json()["items"]] \
        == [job["id"]]
    r = upload(as_("water", "agent_b"), "/import/customer", book([["name", "phone"],
                                                                  ["C", "0901000003"]]))
    other_team = r.get_json()["job"]
    assert as_("water", "supervisor").get(f"/jobs/{other_team}").status_code == 404
    for other in (as_("water", "agent2"), as_("coffee", "owner"), as_("coffee", "supervisor")):
        assert other.get(url).status_code == 404
        r = other.get(f"{url}/file")
        assert r.status_code == 404 and "errors" in r.get_json()
    assert agent.get(f"{url}/files/../../secret_key").status_code == 404
    assert agent.get(f"{url}/files/other.xlsx").status_code == 404
    assert agent.get("/jobs/999999").status_code == 404
    assert agent.get(f"/jobs/{2**40}").status_code == 404
    assert "path" not in job["params"] and job["params"]["name"] == "list.xlsx"
    uploads = app.extensions["callboard"].settings.data_dir / "uploads"
    assert [f for d in uploads.iterdir() for f in d.iterdir()] == []  # done: upload gone
    assert [j["id"] for j in agent.get("/jobs").get_json()["items"]] == [job["id"]]
    assert as_("water", "agent2").get("/jobs").get_json()["items"] == []
    # The agent's records are its own; another agent cannot see them.
    created = agent.get("/records/customer?name=A").get_json()["items"]
    assert created and created[0]["owner"] == job["user_id"]
    assert as_("water", "agent_b").get(f"/records/customer/{created[0]['id']}"
                                       ).status_code == 404


def test_bad_requests_answer_4xx_with_errors(as_: Callable[..., Any]) -> None:
    owner = as_("water", "owner")
    content = book([["name", "phone"], ["A", "0901000001"]])
    cases = [
        (owner.post("/import/customer"), 422, "file"),
        (upload(owner, "/import/customer", b"%PDF-1.4", "x.pdf"), 422, "file"),
        (upload(owner, "/import/customer", b"PK\x03\x04junk", "x.xlsx"), 422, "file"),
        (upload(owner, "/import/customer", content, mode="merge"), 422, "mode"),
        (upload(owner, "/import/customer", content, mode="upsert", key="address"), 422,
         "key"),
        (upload(owner, "/import/nothing", content), 404, "_"),
        (owner.post("/export/customer?district__zz=1"), 422, "district__zz"),
        (owner.post("/export/customer?format=pdf"), 422, "format"),
        (owner.post("/export/nothing"), 404, "_"),
        (owner.get("/import/nothing/template"), 404, "_"),
        (owner.post("/jobs/12345/revert"), 404, "_"),
    ]
    for r, status, key in cases:
        assert r.status_code == status, (r.status_code, r.get_json())
        assert key in r.get_json()["errors"], r.get_json()
    r = upload(owner, "/import/customer", book([["name", "phone"]]))
    job = owner.get(f"/jobs/{r.get_json()['job']}").get_json()
    assert job["status"] == "failed" and "no data rows" in job["error"]


def test_template_in_the_callers_language(as_: Callable[..., Any]) -> None:
    r = as_("water", "agent").get("/import/customer/template?locale=en")
    first = [c.value for c in openpyxl.load_workbook(io.BytesIO(r.data)).worksheets[0][1]]
    assert first[0] == "Account holder *"
    r = as_("coffee", "agent").get("/import/customer/template")
    assert r.status_code == 200


def test_revert_through_the_api(as_: Callable[..., Any]) -> None:
    owner = as_("water", "owner")
    r = owner.post("/records/customer", json={"name": "Giữ", "phone": "0901000001",
                                               "district": "quan_1"})
    kept = r.get_json()
    r = upload(owner, "/import/customer", book([
        ["name", "phone", "district"], ["Đổi", "0901000001", "quan_3"],
        ["Mới", "0901000002", None]]), mode="upsert")
    job = finished(owner, r.get_json()["job"])
    assert as_("water", "agent").post(f"/jobs/{job['id']}/revert").status_code == 404
    r = owner.post(f"/jobs/{job['id']}/revert")
    assert r.status_code == 202
    res = finished(owner, r.get_json()["job"])["result"]
    assert (res["removed"], res["restored"]) == (1, 1)
    items = owner.get("/records/customer").get_json()["items"]
    assert [(c["id"], c["name"], c["district"]) for c in items] == [
        (kept["id"], "Giữ", "quan_1")]
    assert finished(owner, job["id"])["result"]["reverted_by"] == r.get_json()["job"]


def test_bulk_delete_owner_only_with_counts(as_: Callable[..., Any]) -> None:
    owner = as_("water", "owner")
    made = {}
    for i, extra in enumerate([{"email": "a@x.vn"}, {"meter_no": "FB1000234"}, {}, {}]):
        r = owner.post("/records/customer", json={"name": f"K{i}", "phone": f"090100000{i}",
                                                   **extra})
        made[i] = r.get_json()["id"]
    coffee = as_("coffee", "owner")
    r = coffee.post("/records/customer", json={"name": "Cà phê", "phone": "0901000002"})
    coffee_id = r.get_json()["id"]
    content = book([["phone / email / id"], ["A@X.VN"], ["FB1000234"], [901000002],
                    ["+84 90 100 0002"], ["0999999999"], ["nobody@x.vn"]])
    for who in ("agent", "admin", "supervisor"):
        r = upload(as_("water", who), "/bulk-delete/customer", content)
        assert r.status_code == 403 and "errors" in r.get_json()
    r = upload(owner, "/bulk-delete/customer", content)
    assert r.status_code == 202
    res = finished(owner, r.get_json()["job"])["result"]
    assert (res["deleted"], res["not_found"], res["values"]) == (3, 2, 6)
    assert sorted(res["not_found_values"]) == ["0999999999", "nobody@x.vn"]
    left = [c["id"] for c in owner.get("/records/customer").get_json()["items"]]
    assert left == [made[3]]
    assert coffee.get(f"/records/customer/{coffee_id}").status_code == 200  # other tenant


# -- RQ ---------------------------------------------------------------------------------------
@pytest.fixture
def rq_client(app: Flask, db_url: str, tmp_path: Path, users: Any) -> Iterator[
        tuple[FlaskClient, str, Any]]:
    """A second app on the same database with CALLBOARD_REDIS_URL set and a queue of its
    own (the same users and tokens work on it)."""
    from redis import Redis

    conn = Redis.from_url(REDIS_URL)
    try:
        conn.ping()
    except Exception:
        need(f"Redis is not reachable at {REDIS_URL}")
    queue = f"test-{uuid.uuid4().hex[:10]}"
    settings = Settings(tmp_path / "data", db_url, REDIS_URL, "test")
    rq_app = create_app(settings, TESTING=True, CALLBOARD_JOB_QUEUE=queue)
    yield rq_app.test_client(), queue, conn
    rq_app.extensions["callboard"].engine.dispose()
    with rq_app.app_context():
        rq_app.extensions["sqlalchemy"].engine.dispose()


def test_jobs_on_rq_run_by_rqs_worker(rq_client: Any, login: Callable[[str], Any]) -> None:
    from rq import Queue, SimpleWorker

    client, queue, conn = rq_client
    headers = login("owner@water.test")
    r = client.post("/api/v1/import/customer", headers=headers, data={
        "file": (io.BytesIO(book([["name", "phone"], ["Q1", "0901000001"],
                                  ["Q2", "0901000002"]])), "q.xlsx")},
        content_type="multipart/form-data")
    assert r.status_code == 202
    job = r.get_json()["job"]
    r2 = client.post("/api/v1/export/customer?format=csv", headers=headers)
    export = r2.get_json()["job"]
    for j in (job, export):
        body = client.get(f"/api/v1/jobs/{j}", headers=headers).get_json()
        assert (body["status"], body["progress"]) == ("queued", 0)
    assert Queue(queue, connection=conn).count == 2
    SimpleWorker([Queue(queue, connection=conn)], connection=conn).work(burst=True)
    body = client.get(f"/api/v1/jobs/{job}", headers=headers).get_json()
    assert body["status"] == "done" and body["result"]["created"] == 2
    r = client.get(f"/api/v1/jobs/{export}/file", headers=headers)
    assert r.status_code == 200
    text = r.data.decode("utf-8-sig")
    assert "Q1" in text and "Q2" in text  # the queue runs in order: import, then export


def test_an_unreachable_queue_is_a_503(app: Flask, tmp_path: Path, users: Any) -> None:
    p = app.extensions["callboard"]
    settings = Settings(tmp_path / "data", p.settings.database_url, "redis://127.0.0.1:1/0",
                        "test")
    tenant = p.store.get("water")
    with pytest.raises(QueueUnavailable) as e:
        enqueue(settings, tenant.id, users["water"]["owner"].id, "export",
                {"entity": "customer"}, engine=p.engine)
    assert e.value.status == 503 and "not reachable" in e.value.message
    with p.engine.connect() as conn:
        job_id = conn.execute(select(func.max(jobs.c.id))).scalar_one()
    assert get_job(p.engine, tenant.id, job_id)["status"] == "failed"


# -- large jobs a web server runs in a process of their own ----------------------------------
def customers_book(n: int) -> bytes:
    return book([["name", "phone"], *[[f"Khách {i}", f"09{31000000 + i}"] for i in range(n)]])


def test_a_large_inline_job_runs_in_a_process_of_its_own(as_: Callable[..., Any]) -> None:
    """Without Redis, a web server runs a large import or export in a new, single-threaded
    process and waits for it: the import there forks its helper, which it could not do in
    this process while another thread runs (as a web server's threads do). A small import
    stays in the server's process."""
    owner = as_("water", "owner")
    stop = threading.Event()
    busy = threading.Thread(target=stop.wait, daemon=True)  # a server's other thread
    busy.start()
    try:
        r = upload(owner, "/import/customer", customers_book(2500), "big.xlsx")
        assert r.status_code == 202, r.get_json()
        res = finished(owner, r.get_json()["job"])["result"]
        assert (res["created"], res["failed"], res["parallel"]) == (2500, 0, True), res
        r = upload(owner, "/import/customer", customers_book(20), "small.xlsx",
                   mode="upsert", key="phone")
        res = finished(owner, r.get_json()["job"])["result"]
        assert (res["updated"], res["parallel"]) == (0, False), res  # the same 20, unchanged
        r = owner.post("/export/customer")  # .xlsx of the 2,500: read by a helper there
        job = finished(owner, r.get_json()["job"])
        assert (job["result"]["rows"], job["result"]["parallel"]) == (2500, True)
        assert len(sheet(owner.get(f"/jobs/{job['id']}/file").data)) == 2501
    finally:
        stop.set()
        busy.join()


DIED = "the job's process stopped (exit code -9); resume it to go on"


@pytest.fixture
def start_dying(app: Flask, users: Any, monkeypatch: pytest.MonkeyPatch
                ) -> Callable[..., int]:
    """start_dying(**enqueue_args) -> the id of a large job whose process kills itself
    (SIGKILL, as an out-of-memory kill would), run apart by a web server."""
    from callboard.jobs import runner

    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    monkeypatch.setitem(runner._kinds, "dies", "tests.integration.dying_job:die")
    monkeypatch.setitem(runner._sizes, "dies", "tests.integration.dying_job:large")
    p = app.extensions["callboard"]
    owner = users["water"]["owner"].id
    return lambda **kw: enqueue(p.settings, p.store.get("water").id, owner, "dies", {},
                                engine=p.engine, apart=True, **kw)


def test_a_job_whose_process_dies_is_failed(app: Flask,
                                            start_dying: Callable[..., int]) -> None:
    """The process running a job apart is killed (SIGKILL): the job is failed, saying so,
    and the server that waited for it carries on."""
    p = app.extensions["callboard"]
    job = get_job(p.engine, p.store.get("water").id, start_dying())
    assert (job["status"], job["error"]) == ("failed", DIED)


def wait_for(api: Any, job: int, seconds: float = 120) -> dict[str, Any]:
    """The job once it has ended (done or failed), polled as a page does."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        body = api.get(f"/jobs/{job}").get_json()
        if body["status"] in ("done", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def test_a_client_that_prefers_it_is_answered_before_a_large_job_ends(
        as_: Callable[..., Any]) -> None:
    """`Prefer: respond-async` (RFC 7240): a large job of a server without Redis runs in
    its own process and the request answers at once, saying so, while the job goes on; the
    job then ends as it would have. A small job is done by the time it answers, and says
    nothing; without the header the large job is waited for (the test above)."""
    owner = as_("water", "owner")
    at_once = {"Prefer": "respond-async"}
    r = owner.post("/import/customer", headers=at_once, content_type="multipart/form-data",
                   data={"file": (io.BytesIO(customers_book(2500)), "big.xlsx")})
    assert r.status_code == 202, r.get_json()
    assert r.headers.get("Preference-Applied") == "respond-async"
    job = r.get_json()["job"]
    assert owner.get(f"/jobs/{job}").get_json()["status"] in ("queued", "running")
    body = wait_for(owner, job)
    assert body["status"] == "done", body
    assert (body["result"]["created"], body["result"]["parallel"]) == (2500, True)
    r = owner.post("/import/customer", headers={"Prefer": "wait=5, respond-async"},
                   content_type="multipart/form-data",
                   data={"file": (io.BytesIO(customers_book(20)), "small.xlsx"),
                         "mode": "upsert", "key": "phone"})
    assert "Preference-Applied" not in r.headers
    assert owner.get(f"/jobs/{r.get_json()['job']}").get_json()["status"] == "done"
    wait_for_reapers(60)  # the big job's process has ended, not only its job


def test_a_job_left_running_whose_process_dies_is_failed(
        as_: Callable[..., Any], start_dying: Callable[..., int]) -> None:
    """A job the request did not wait for: the server's thread that reaps its process
    fails it when it dies, and a resume asked to answer at once does the same."""
    job_id = start_dying(wait=False)
    owner = as_("water", "owner")
    assert wait_for(owner, job_id)["error"] == DIED
    r = owner.post(f"/jobs/{job_id}/resume", headers={"Prefer": "respond-async"})
    assert (r.status_code, r.headers.get("Preference-Applied")) == (202, "respond-async")
    assert wait_for(owner, job_id)["error"] == DIED
    wait_for_reapers(60)
