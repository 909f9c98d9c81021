"""Views, the hot list (views decayed with age), favourites and feedback, per role."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callboard.search import kb


def make(sup: Any, title: str, published: bool = True) -> int:
    rid = sup.post("/records/kb_article", json={"title": title}).get_json()["id"]
    if published:
        assert sup.post(f"/records/kb_article/{rid}/transitions/publish",
                        json={}).status_code == 200
    return rid


@pytest.fixture
def service(app: Any) -> Any:
    p = app.extensions["callboard"]
    return p.records(p.store.get("water"))


def test_views_are_counted_on_read_and_hot_ranks_by_decayed_views(
        as_: Any, service: Any) -> None:
    sup, agent = as_("water", "supervisor"), as_("water", "agent")
    old, fresh, once, draft = (make(sup, "Old favourite"), make(sup, "Fresh"),
                               make(sup, "Once"), make(sup, "Draft", published=False))
    three_weeks_ago = datetime.now(UTC) - timedelta(days=21)
    for _ in range(5):  # five views three weeks ago weigh 5/8 of a view today
        kb.count_view(service, old, at=three_weeks_ago)
    for _ in range(2):
        assert agent.get(f"/kb/articles/{fresh}").status_code == 200
    r = agent.get(f"/kb/articles/{once}")
    assert r.get_json()["views"] == 1 and r.get_json()["title"] == "Once"
    for _ in range(9):
        assert sup.get(f"/kb/articles/{draft}").status_code == 200
    assert agent.get(f"/kb/articles/{fresh}").get_json()["views"] == 3

    items = agent.get("/kb/hot").get_json()["items"]
    assert [i["id"] for i in items] == [fresh, once, old]  # no draft for an agent
    assert [i["views"] for i in items] == [3, 1, 5]
    assert items[2]["score"] == pytest.approx(5 / 8, rel=0.01)
    assert items[0]["score"] == pytest.approx(3, rel=0.01)
    assert [i["id"] for i in sup.get("/kb/hot").get_json()["items"]][:2] == [draft, fresh]
    assert len(agent.get("/kb/hot?limit=1").get_json()["items"]) == 1
    assert agent.get("/kb/hot?limit=1000").status_code == 422
    assert as_("coffee", "owner").get("/kb/hot").get_json()["items"] == []
    assert agent.get("/kb/articles/99999999").status_code == 404


def test_favourites_are_per_user(as_: Any) -> None:
    sup, agent, agent2 = as_("water", "supervisor"), as_("water", "agent"), as_("water", "agent2")
    a, b, draft = make(sup, "A"), make(sup, "B"), make(sup, "Draft", published=False)
    r = agent.post(f"/kb/articles/{a}/favorite")
    assert r.status_code == 200 and r.get_json()["favorite"] is True
    assert agent.post(f"/kb/articles/{a}/favorite").get_json()["favorites"] == 1  # idempotent
    agent.post(f"/kb/articles/{b}/favorite")
    agent2.post(f"/kb/articles/{b}/favorite")
    assert sorted(i["id"] for i in agent.get("/kb/favorites").get_json()["items"]) == [a, b]
    assert [i["id"] for i in agent2.get("/kb/favorites").get_json()["items"]] == [b]
    got = agent2.get(f"/kb/articles/{b}").get_json()
    assert got["favorite"] is True and got["favorites"] == 2
    assert agent2.get(f"/kb/articles/{a}").get_json()["favorite"] is False
    assert agent.delete(f"/kb/articles/{a}/favorite").get_json()["favorite"] is False
    assert [i["id"] for i in agent.get("/kb/favorites").get_json()["items"]] == [b]
    assert agent.post(f"/kb/articles/{draft}/favorite").status_code == 404
    assert as_("coffee", "agent").post(f"/kb/articles/{a}/favorite").status_code == 404
    # an article archived after it was favoured leaves the agent's list
    sup.post(f"/records/kb_article/{b}/transitions/archive", json={})
    assert agent.get("/kb/favorites").get_json()["items"] == []


def test_feedback_counts_and_comments(as_: Any) -> None:
    sup, agent, agent2 = as_("water", "supervisor"), as_("water", "agent"), as_("water", "agent2")
    a = make(sup, "How to reset a meter")
    r = agent.post(f"/kb/articles/{a}/feedback", json={"helpful": False, "comment": "unclear"})
    assert r.status_code == 201
    assert r.get_json()["feedback"] == {"helpful": 0, "not_helpful": 1}
    # a user's later opinion replaces its earlier one
    r = agent.post(f"/kb/articles/{a}/feedback", json={"helpful": True})
    assert r.get_json()["feedback"] == {"helpful": 1, "not_helpful": 0}
    agent2.post(f"/kb/articles/{a}/feedback", json={"helpful": False, "comment": "step 3?"})
    assert agent.get(f"/kb/articles/{a}").get_json()["feedback"] == \
        {"helpful": 1, "not_helpful": 1}
    assert "comments" not in agent.get(f"/kb/articles/{a}/feedback").get_json()
    comments = sup.get(f"/kb/articles/{a}/feedback").get_json()["comments"]
    assert [(c["helpful"], c["comment"]) for c in comments] == [(False, "step 3?")]
    for bad in ({}, {"helpful": "yes"}, {"helpful": True, "comment": 5},
                {"helpful": True, "rating": 5}, {"helpful": True, "comment": "x" * 4001}):
        r = agent.post(f"/kb/articles/{a}/feedback", json=bad)
        assert r.status_code == 422 and "errors" in r.get_json(), bad
    r = agent.post(f"/kb/articles/{a}/feedback", data="nope", content_type="text/plain")
    assert r.status_code == 422
    assert as_("coffee", "agent").post(f"/kb/articles/{a}/feedback",
                                       json={"helpful": True}).status_code == 404
