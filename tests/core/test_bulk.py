"""`core.bulk`: the rows it writes are the rows `bulk_create` writes (defaults, auto_now_add,
JSON), on SQLite and PostgreSQL alike; conflicts can be skipped; ids come back in order."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, transaction

from sinfonia.audit.models import AuditEvent
from sinfonia.core import bulk
from sinfonia.storage.models import Blob

pytestmark = pytest.mark.django_db

COLUMNS = ("user_id", "username", "action", "node_id", "path", "channel", "client", "detail")


def events(action: str) -> list[AuditEvent]:
    return [
        AuditEvent(
            username="alice",
            action=action,
            path=f"/WP1/Ł{n}.dcm",
            channel="dicomweb",
            detail={"size": n, "sha256": "ab" * 32, "nested": {"ß": [1, 2.5, None]}},
        )
        for n in range(3)
    ]


def rows(action: str) -> list[dict[str, Any]]:
    return list(AuditEvent.objects.filter(action=action).order_by("id").values(*COLUMNS))


def test_insert_writes_what_bulk_create_writes():
    AuditEvent.objects.bulk_create(events("by.django"))
    bulk.insert(events("by.insert"))
    expected = [r | {"action": "x"} for r in rows("by.django")]
    assert [r | {"action": "x"} for r in rows("by.insert")] == expected
    assert AuditEvent.objects.filter(action="by.insert", at__isnull=True).count() == 0
    assert AuditEvent.objects.get(action="by.insert", path="/WP1/Ł2.dcm").detail["nested"] == {
        "ß": [1, 2.5, None]
    }


def test_conflicts_are_refused_or_skipped():
    Blob.objects.create(sha256="a" * 64, size=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk.insert([Blob(sha256="a" * 64, size=1)])
    bulk.insert(
        [Blob(sha256="a" * 64, size=2), Blob(sha256="b" * 64, size=3)], ignore_conflicts=True
    )
    assert dict(Blob.objects.values_list("sha256", "size")) == {"a" * 64: 1, "b" * 64: 3}
    assert Blob.objects.get(sha256="b" * 64).ref_count == 0  # the field's default


def test_nothing_to_insert_is_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        bulk.insert([])


def test_insert_returning_ids_sets_each_objects_id_in_order():
    objs = [
        Blob(sha256=f"{n:064x}", size=n) for n in range(1200)
    ]  # more rows than one statement takes on SQLite
    bulk.insert_returning_ids(objs)
    assert [o.pk for o in objs] == [f"{n:064x}" for n in range(1200)]
    assert all(not o._state.adding for o in objs)
    events_ = events("returned")
    bulk.insert_returning_ids(events_)
    ids = [e.pk for e in events_]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert [AuditEvent.objects.get(pk=i).path for i in ids] == [e.path for e in events_]


def test_values_rows_share_are_prepared_once_and_stay_right():
    """Consecutive rows that share a value get it prepared once; rows that differ keep theirs,
    whatever the type (1 and True, "" and None, {} and {"a": 1}); auto_now_add is one moment,
    set on each object as ``save()`` would."""
    details: list[dict[str, Any]] = [{}, {}, {"a": 1}, {"a": True}, {}, {"a": True}]
    users = ["alice", "alice", "", "bob", "bob", "alice"]
    made = [
        AuditEvent(username=u, action="shared", path=f"/p{n % 2}", channel="api", detail=d)
        for n, (u, d) in enumerate(zip(users, details, strict=True))
    ]
    bulk.insert(made)
    stored = list(
        AuditEvent.objects.filter(action="shared")
        .order_by("id")
        .values_list("username", "path", "detail", "at")
    )
    assert [(u, p, d) for u, p, d, _ in stored] == [
        (u, f"/p{n % 2}", d) for n, (u, d) in enumerate(zip(users, details, strict=True))
    ]
    assert stored[3][2]["a"] is True and stored[2][2]["a"] == 1 and stored[2][2]["a"] is not True
    assert len({at for *_, at in stored}) == 1
    assert all(e.at == stored[0][3] for e in made)


def test_insert_values_writes_what_insert_writes():
    made = events("by.objects")
    bulk.insert(made)
    bulk.insert_values(
        AuditEvent,
        [
            {
                "username": e.username,
                "action": "by.values",
                "path": e.path,
                "channel": e.channel,
                "detail": e.detail,
            }
            for e in made
        ],
    )
    expected = [r | {"action": "x"} for r in rows("by.objects")]
    assert [r | {"action": "x"} for r in rows("by.values")] == expected  # defaults: client "", …
    assert AuditEvent.objects.filter(action="by.values", at__isnull=True).count() == 0
    bulk.insert_values(
        Blob,
        [{"sha256": "c" * 64, "size": 1}, {"sha256": "c" * 64, "size": 2}],
        ignore_conflicts=True,
    )
    assert list(Blob.objects.values_list("size", "ref_count")) == [(1, 0)]
