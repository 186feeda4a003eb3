"""Permissions follow the tree: elements inherit the access list of their nearest ancestor that
has one, also after moves and copies."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.resources.helpers import (
    body_of,
    child_names,
    collection,
    copy,
    detail,
    download,
    error,
    fileset,
    folder,
    lookup,
    move,
    set_acl,
    upload,
)


def _acl(api: Api, node: dict[str, Any]) -> Any:
    return api.ok(api.get(f"/resources/{node['id']}/acl"))


def test_moved_folder_takes_the_permissions_of_its_new_place(admin_api, make_user, api_for):
    bob = api_for(make_user("bob"))
    carol = api_for(make_user("carol"))
    p = collection(admin_api, "P")
    q = collection(admin_api, "Q")
    set_acl(admin_api, p, {"root": "admin", "bob": "read"})
    set_acl(admin_api, q, {"root": "admin", "carol": "read"})

    plain = folder(admin_api, p, "Plain")
    plain_file = upload(admin_api, fileset(admin_api, plain, "S"), "f.bin", b"plain")
    own = folder(admin_api, p, "Own")
    set_acl(admin_api, own, {"root": "admin", "bob": "read"})
    own_file = upload(admin_api, fileset(admin_api, own, "S"), "g.bin", b"own")
    for node in (plain, plain_file, own, own_file):
        bob.ok(bob.get(f"/resources/{node['id']}"))
        error(carol.get(f"/resources/{node['id']}"), 404)

    admin_api.ok(move(admin_api, [plain, own], q))

    # Plain inherited from P, so it and its contents now follow Q.
    error(bob.get(f"/resources/{plain['id']}"), 404)
    error(download(bob, plain_file), 404)
    error(lookup(bob, "/Q/Plain/S/f.bin"), 404)
    assert carol.ok(lookup(carol, "/Q/Plain/S/f.bin"))["id"] == plain_file["id"]
    assert body_of(download(carol, plain_file)) == b"plain"
    acl = admin_api.ok(admin_api.get(f"/resources/{plain['id']}/acl"))
    assert (acl["inherited"], acl["source_id"]) == (True, q["id"])

    # Own keeps its own list: bob still sees it, carol still does not.
    assert body_of(download(bob, own_file)) == b"own"
    error(carol.get(f"/resources/{own['id']}"), 404)
    error(download(carol, own_file), 404)
    assert child_names(carol, q) == ["Plain"]
    assert detail(admin_api, own)["has_own_acl"] is True


def test_copies_take_the_permissions_of_their_destination(admin_api, make_user, api_for):
    bob = api_for(make_user("bob"))
    carol = api_for(make_user("carol"))
    p = collection(admin_api, "P")
    q = collection(admin_api, "Q")
    set_acl(admin_api, q, {"root": "admin", "carol": "read"})
    own = folder(admin_api, p, "Own")
    set_acl(admin_api, own, {"root": "admin", "bob": "read"})
    upload(admin_api, fileset(admin_api, own, "S"), "g.bin", b"own")

    clone = admin_api.ok(copy(admin_api, [own], q), 201)[0]
    assert clone["has_own_acl"] is False
    error(bob.get(f"/resources/{clone['id']}"), 404)
    assert body_of(download(carol, carol.ok(lookup(carol, "/Q/Own/S/g.bin")))) == b"own"


def test_a_folder_with_its_own_list_inside_a_moved_folder_keeps_it(admin_api, make_user, api_for):
    bob = api_for(make_user("bob"))
    carol = api_for(make_user("carol"))
    p = collection(admin_api, "P")
    q = collection(admin_api, "Q")
    set_acl(admin_api, q, {"root": "admin", "carol": "read"})
    outer = folder(admin_api, p, "Outer")
    inner = folder(admin_api, outer, "Inner")
    set_acl(admin_api, inner, {"root": "admin", "bob": "write"})
    plain = fileset(admin_api, outer, "Plain")
    inner_file = upload(admin_api, fileset(admin_api, inner, "S"), "in.bin", b"inner")
    plain_file = upload(admin_api, plain, "out.bin", b"outer")

    admin_api.ok(move(admin_api, [outer], q))

    assert carol.ok(lookup(carol, "/Q/Outer/Plain/out.bin"))["id"] == plain_file["id"]
    assert child_names(carol, outer) == ["Plain"]  # Inner is not carol's to see
    error(download(carol, inner_file), 404)
    assert body_of(download(bob, inner_file)) == b"inner"
    error(download(bob, plain_file), 404)
    assert _acl(admin_api, inner)["inherited"] is False
    # bob can still write inside Inner at its new place.
    upload(bob, detail(bob, inner_file["parent_id"]), "new.bin", b"new")


def test_a_moved_folder_with_its_own_list_can_inherit_again(admin_api, make_user, api_for):
    bob = api_for(make_user("bob"))
    carol = api_for(make_user("carol"))
    p = collection(admin_api, "P")
    q = collection(admin_api, "Q")
    set_acl(admin_api, q, {"root": "admin", "carol": "read"})
    own = folder(admin_api, p, "Own")
    set_acl(admin_api, own, {"root": "admin", "bob": "read"})
    f = upload(admin_api, fileset(admin_api, own, "S"), "f.bin", b"f")
    admin_api.ok(move(admin_api, [own], q))

    view = admin_api.ok(admin_api.put(f"/resources/{own['id']}/acl", {"inherit": True}))
    assert (view["inherited"], view["source_id"]) == (True, q["id"])
    assert body_of(download(carol, f)) == b"f"
    error(download(bob, f), 404)


def test_a_file_moved_to_another_collection_follows_it(admin_api, make_user, api_for):
    bob = api_for(make_user("bob"))
    p = collection(admin_api, "P")
    q = collection(admin_api, "Q")
    set_acl(admin_api, p, {"root": "admin", "bob": "read"})
    f = upload(admin_api, fileset(admin_api, p, "S"), "f.bin", b"f")
    dest = fileset(admin_api, q, "T")
    assert body_of(download(bob, f)) == b"f"
    admin_api.ok(move(admin_api, [f], dest))
    error(download(bob, f), 404)
    admin_api.ok(move(admin_api, [f], folder(admin_api, p, "Back")))
    assert body_of(download(bob, f)) == b"f"


def test_new_elements_inherit_from_their_place(admin_api, make_user, api_for):
    bob = api_for(make_user("bob"))
    carol = api_for(make_user("carol"))
    coll = collection(admin_api, "P")
    set_acl(admin_api, coll, {"root": "admin", "carol": "write"})
    own = folder(admin_api, coll, "Own")
    set_acl(admin_api, own, {"root": "admin", "bob": "write"})

    sub = folder(bob, own, "Sub")
    f = upload(bob, sub, "f.bin", b"f")
    assert _acl(admin_api, sub)["source_id"] == own["id"]
    error(carol.get(f"/resources/{sub['id']}"), 404)
    error(download(carol, f), 404)
    assert body_of(download(bob, f)) == b"f"
    # bob writes inside Own only.
    error(bob.post("/folders", {"parent_id": coll["id"], "name": "X"}), 404)


def test_copying_needs_read_on_the_sources_only(admin_api, make_user, api_for):
    bob = api_for(make_user("bob"))
    p = collection(admin_api, "P")
    q = collection(admin_api, "Q")
    set_acl(admin_api, p, {"root": "admin", "bob": "read"})
    set_acl(admin_api, q, {"root": "admin", "bob": "write"})
    fs = fileset(admin_api, p, "S")
    f = upload(admin_api, fs, "f.bin", b"f")
    clone = bob.ok(copy(bob, [fs], q), 201)[0]
    assert clone["creator"] == "bob"
    assert detail(bob, clone)["access"] == "write"
    error(move(bob, [fs], q), 403)  # moving takes it away from P: needs write there
    assert body_of(download(admin_api, f)) == b"f"


def test_summary_counts_only_what_the_reader_may_see(admin_api, make_user, api_for):
    """A closed sub-folder must not show up, even as a count, in its parent's information."""
    reader = make_user("counted")
    coll = admin_api.ok(admin_api.post("/collections", {"name": "Counts"}), 201)
    admin_api.ok(
        admin_api.put(
            f"/resources/{coll['id']}/acl",
            {"entries": [{"user": "root", "level": "admin"}, {"user": "counted", "level": "read"}]},
        )
    )
    open_ = admin_api.ok(admin_api.post("/folders", {"parent_id": coll["id"], "name": "open"}), 201)
    closed = admin_api.ok(
        admin_api.post("/folders", {"parent_id": coll["id"], "name": "closed"}), 201
    )
    admin_api.ok(admin_api.upload(open_["id"], "a.txt", b"aaaa"), 201)
    admin_api.ok(admin_api.upload(closed["id"], "secret.txt", b"s" * 100), 201)
    admin_api.ok(
        admin_api.put(
            f"/resources/{closed['id']}/acl", {"entries": [{"user": "root", "level": "admin"}]}
        )
    )
    seen = api_for(reader).ok(api_for(reader).get(f"/resources/{coll['id']}"))["summary"]
    assert seen == {"size": 4, "files": 1, "filesets": 1, "folders": 1}
    assert admin_api.ok(admin_api.get(f"/resources/{coll['id']}"))["summary"]["folders"] == 2
