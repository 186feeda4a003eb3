"""The narrow copy of the node rows that searches by words run on (search_node_text,
docs/decisions/0005-search-backends.md), on SQLite and PostgreSQL: it follows every change
to the tree, and a search answers the same from it as from the node table."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sinfonia.core.context import Actor
from sinfonia.resources.models import Node
from sinfonia.search import backends
from sinfonia.search.models import TEXT_TABLE
from sinfonia.search.selectors import search
from tests.search.conftest import World

pytestmark = pytest.mark.django_db

COPIED = ("id", "kind", "acl_root_id", "in_trash", "search_name", "sort_name", "search_description")


def assert_in_step() -> None:
    from sinfonia.search.models import NodeText

    nodes = set(Node.objects.values_list(*COPIED))
    copy = set(NodeText.objects.values_list(*COPIED))
    assert nodes and copy == nodes, (nodes - copy, copy - nodes)


def test_the_copy_follows_every_change(world: World) -> None:
    a = world.admin
    assert_in_step()  # created, uploaded, with metadata and identifiers
    notes = world.ids["notes.txt"]
    a.ok(a.patch(f"/resources/{notes}", {"name": "Protokół.txt", "description": "Zażółć"}))
    assert_in_step()
    follow = world.ids["Follow-up"]
    closed = {"entries": [{"user": "root", "level": "admin"}]}
    a.ok(a.put(f"/resources/{follow}/acl", closed))  # a subtree changes its ACL root
    assert_in_step()
    assert world.names(world.alice, "protokol") == set()
    copy = {"sources": [world.ids["Baseline"]], "destination_id": follow}
    a.ok(a.post("/resources/copy", copy), 201)
    assert_in_step()
    a.ok(a.post("/resources/move", {"sources": [world.ids["Dose plan"]], "destination_id": follow}))
    assert_in_step()
    (item,) = a.ok(a.delete(f"/resources/{world.ids['Baseline']}"))["trash_ids"]
    assert_in_step()
    a.ok(a.post(f"/trash/{item}/restore"))
    assert_in_step()
    (item,) = a.ok(a.delete(f"/resources/{follow}"))["trash_ids"]
    a.ok(a.delete(f"/trash/{item}"), 204)  # purged: the rows are deleted
    assert_in_step()
    assert not Node.objects.filter(pk=notes).exists()


def _search(actor: Actor, query: str, **options: Any) -> list[tuple[int, str]]:
    results = search(actor, query, limit=500, **options)
    return [(hit.node.id, hit.path) for hit in results.items] + [(results.total, results.sort)]


QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("lodz", {}),
    ("thorax", {}),
    ("report -draft", {}),
    ("name:base* desc:thorax", {}),
    ("ext:pdf", {}),
    ("lodz", {"sort": "name", "descending": True}),
    ("dcm", {"sort": "name"}),
]


def test_word_searches_run_on_the_copy_and_find_what_the_node_table_finds(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = Actor(user=world.alice.user, channel="test")
    admin = Actor(user=world.admin.user, channel="test")
    answers = {}
    for actor in (alice, admin):
        for n, (query, options) in enumerate(QUERIES):
            with CaptureQueriesContext(connection) as queries:
                answers[actor.user, n] = _search(actor, query, **options)
            assert any("search_node_text" in q["sql"] for q in queries.captured_queries), query
    for query in ("lodz kind:file", "id.partner:SERGAS thorax"):  # other columns: node table
        with CaptureQueriesContext(connection) as queries:
            search(alice, query)
        assert not any("search_node_text" in q["sql"] for q in queries.captured_queries)
    with CaptureQueriesContext(connection) as queries:
        search(alice, "lodz", sort="size")  # an order the copy cannot give
    assert not any("search_node_text" in q["sql"] for q in queries.captured_queries)

    monkeypatch.setattr(type(backends.current()), "text_rows", lambda self: None)
    for actor in (alice, admin):
        for n, (query, options) in enumerate(QUERIES):
            assert _search(actor, query, **options) == answers[actor.user, n], query
    assert all(answers[admin.user, n][-1][0] for n in range(len(QUERIES)))  # all find some
    assert answers[alice.user, 0][-1][0] < answers[admin.user, 0][-1][0]  # permissions apply


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's row triggers")
def test_a_rebuilt_node_table_gets_its_triggers_back_and_the_copy_is_refilled(
    world: World,
) -> None:
    from sinfonia.search.backends import sqlite

    # What a migration that rebuilds the node table on SQLite leaves: no triggers, and
    # perhaps nodes written before `post_migrate` puts them back.
    with connection.cursor() as cursor:
        for event in sqlite.TEXT_TRIGGERS:
            cursor.execute(f"DROP TRIGGER {TEXT_TABLE}_{event}")
    notes = world.ids["notes.txt"]
    Node.objects.filter(pk=notes).update(search_name="renamed meanwhile", in_trash=True)
    Node.objects.filter(pk=world.ids["Straße.docx"]).delete()
    backends.ensure_index(using=connection.alias)
    assert_in_step()
    world.admin.ok(world.admin.patch(f"/resources/{world.ids['Dose plan']}", {"name": "Dosis"}))
    assert_in_step()  # the triggers are back
    backends.ensure_index(using=connection.alias)  # nothing missing: nothing done
    assert_in_step()
