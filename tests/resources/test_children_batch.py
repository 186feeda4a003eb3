"""`tree.find_or_create_children`: the batch form of creating folders and filesets (used to
file DICOM into Patient / Study / Series): the same rows, checks and audit events as creating
them one by one, in a few queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sinfonia.audit.models import AuditEvent
from sinfonia.core.context import Actor
from sinfonia.core.errors import Conflict, NotFound, PermissionDenied
from sinfonia.resources.models import Kind, Node
from sinfonia.resources.services import tree


@pytest.fixture
def alice(make_user) -> Actor:
    return Actor(user=make_user("alice"), channel="test")


@pytest.fixture
def home(alice: Actor) -> Node:
    assert alice.user is not None
    return tree.ensure_home(alice.user)


def events(action: str) -> list[tuple[str, str, int | None]]:
    return sorted(
        AuditEvent.objects.filter(action=action).values_list("path", "username", "node_id")
    )


def test_missing_children_are_made_as_one_by_one(alice: Actor, home: Node) -> None:
    one = tree.create_folder(alice, home, "One by one")
    one_set = tree.create_fileset(alice, one, "Series")
    with CaptureQueriesContext(connection) as queries:
        made = tree.find_or_create_children(
            alice,
            [(home, Kind.FOLDER, "P-1"), (home, Kind.FOLDER, "P-2"), (home, Kind.FOLDER, "P-1")],
        )
    assert len(queries) <= 8, "\n".join(q["sql"][:120] for q in queries)
    assert sorted(made) == [(home.id, "P-1"), (home.id, "P-2")]
    p1 = made[(home.id, "P-1")]
    sets = tree.find_or_create_children(alice, [(p1, Kind.FILESET, f"00{n} CT") for n in (1, 2)])
    same = ("kind", "acl_root_id", "creator_id", "description", "in_trash", "public", "size")
    for batch, single in ((p1, one), (sets[(p1.id, "001 CT")], one_set)):
        stored, reference = Node.objects.get(pk=batch.pk), Node.objects.get(pk=single.pk)
        assert [getattr(stored, f) for f in same] == [getattr(reference, f) for f in same]
        assert stored.parent_id is not None
        parent = Node.objects.get(pk=stored.parent_id)
        assert stored.ancestry == parent.subtree_prefix
        assert stored.sort_name == stored.name.casefold() and stored.search_name
    home_path = f"/{home.name}"
    assert events("folder.create") == sorted(
        [
            (f"{home_path}/One by one", "alice", one.id),
            (f"{home_path}/P-1", "alice", p1.id),
            (f"{home_path}/P-2", "alice", made[(home.id, "P-2")].id),
        ]
    )
    assert [p for p, _, _ in events("fileset.create")] == [
        f"{home_path}/One by one/Series",
        f"{home_path}/P-1/001 CT",
        f"{home_path}/P-1/002 CT",
    ]


def test_children_there_are_found_not_made_again(alice: Actor, home: Node) -> None:
    there = tree.create_folder(alice, home, "P-1")
    before = AuditEvent.objects.count()
    made = tree.find_or_create_children(alice, [(home, Kind.FOLDER, "P-1")])
    assert made == {(home.id, "P-1"): there}
    assert AuditEvent.objects.count() == before


def test_a_name_held_by_another_kind_refuses_all(alice: Actor, home: Node) -> None:
    tree.create_fileset(alice, home, "P-1")
    with pytest.raises(Conflict, match="is a fileset"):
        tree.find_or_create_children(
            alice, [(home, Kind.FOLDER, "P-0"), (home, Kind.FOLDER, "P-1")]
        )
    assert not Node.objects.filter(name="P-0").exists()


def test_strangers_make_nothing(alice: Actor, home: Node, make_user) -> None:
    stranger = Actor(user=make_user("mallory"), channel="test")
    with pytest.raises((NotFound, PermissionDenied)):
        tree.find_or_create_children(stranger, [(home, Kind.FOLDER, "P-1")])
    reader = Actor(user=alice.user, channel="test", read_only=True)
    with pytest.raises(PermissionDenied):
        tree.find_or_create_children(reader, [(home, Kind.FOLDER, "P-1")])
    assert not Node.objects.filter(name="P-1").exists()
