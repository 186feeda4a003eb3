"""`sinfonia import` and `sinfonia export`: local trees with Unicode names in and out."""

from __future__ import annotations

import os
import random
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest

from sinfonia.accounts.models import User
from sinfonia.cli import main
from sinfonia.core.context import Actor
from sinfonia.resources import selectors
from sinfonia.resources.models import AccessEntry, Kind, Level, Node
from sinfonia.resources.services import trash, tree
from tests.conftest import Api

pytestmark = pytest.mark.django_db

SYSTEM = Actor.local_system()
DEST = "/Study/Imports/2024"  # "Imports" and "2024" do not exist yet
BIG = 3 * 1024 * 1024

# relative path -> content; the directories are implied, plus EMPTY_DIRS
FILES: dict[str, bytes] = {
    "Ελληνικά/Åsa_öl.txt": "Skål! Åsa dricker öl.\n".encode(),
    "Ελληνικά/뇌종양/患者データ.dcm": random.Random(2024).randbytes(BIG),
    "Ελληνικά/뇌종양/notes.txt": "뇌종양 환자 데이터\n".encode(),
    "Zażółć gęślą jaźń/niño_año.csv": "año,niño\n2024,sí\n".encode(),
    "Zażółć gęślą jaźń/deeper/still deeper/leaf.bin": bytes(range(256)) * 4,
    "empty.txt": b"",
    "README": b"top-level file without an extension\n",
}
EMPTY_DIRS = ["Zażółć gęślą jaźń/leer"]


def test_the_names_are_nfc():
    for rel in [*FILES, *EMPTY_DIRS]:
        assert unicodedata.normalize("NFC", rel) == rel  # else the round trip cannot be exact


def build(root: Path, files: dict[str, bytes] = FILES, empty_dirs: list[str] = EMPTY_DIRS) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    for rel in empty_dirs:
        (root / rel).mkdir(parents=True, exist_ok=True)
    return root


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every entry below ``root``: relative path -> bytes (files) or None (directories)."""
    found: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in dirnames:
            found[(here / name).relative_to(root).as_posix()] = None
        for name in filenames:
            found[(here / name).relative_to(root).as_posix()] = (here / name).read_bytes()
    return found


def expected() -> dict[str, bytes | None]:
    want: dict[str, bytes | None] = dict(FILES)
    for rel in [*FILES, *EMPTY_DIRS]:
        parts = rel.split("/")
        for i in range(1, len(parts) + (rel in EMPTY_DIRS)):
            want.setdefault("/".join(parts[:i]), None)
    return want


SUMMARY = re.compile(
    r"^(?P<verb>imported|exported) (?P<done>\d+) file\(s\), (?P<bytes>\d+) bytes; "
    r"skipped (?P<skipped>\d+) already present; (?P<failed>\d+) failed$"
)


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err
        match = SUMMARY.match(out.strip())
        assert match, out
        self.done = int(match["done"])
        self.bytes = int(match["bytes"])
        self.skipped = int(match["skipped"])
        self.failed = int(match["failed"])
        self.failures = [line for line in err.splitlines() if line.startswith("  failed: ")]

    @property
    def counts(self) -> tuple[int, int, int]:
        return self.done, self.skipped, self.failed


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    def run(*argv: str, quiet: bool = True) -> Result:
        code = main([*argv, *(["--quiet"] if quiet else [])])
        out, err = capsys.readouterr()
        result = Result(code, out, err)
        assert code == (1 if result.failed else 0), (code, out, err)
        return result

    return run


@pytest.fixture
def study(db: None) -> Node:
    return tree.create_collection(SYSTEM, "Study")


@pytest.fixture
def boss(make_user: Callable[..., User]) -> User:
    return make_user("boss", admin=True)


@pytest.fixture
def api(boss: User) -> Api:
    return Api(boss)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return build(tmp_path / "src")


def lookup(api: Api, path: str) -> dict[str, object]:
    response = api.client.get("/api/v1/resource/lookup", {"path": path})
    assert response.status_code == 200, (path, response.content[:300])
    data: dict[str, object] = response.json()
    return data


def download(api: Api, node_id: object) -> bytes:
    response = api.client.get(f"/api/v1/files/{node_id}/download")
    assert response.status_code == 200, response.content[:300]
    return response.getvalue()


def file_node(rel: str, base: str = DEST) -> Node:
    """The File node of an imported file (each file sits in a fileset of its own name)."""
    name = rel.rsplit("/", 1)[-1]
    return selectors.lookup(SYSTEM, f"{base}/{rel}/{name}")


def repository_files(base: str = DEST) -> set[str]:
    top = selectors.lookup(SYSTEM, base)
    prefix = selectors.path_of(top) + "/"
    found = set()
    for node in Node.objects.filter(
        kind=Kind.FILE, in_trash=False, ancestry__startswith=top.subtree_prefix
    ):
        path = selectors.path_of(node).removeprefix(prefix)
        fileset, _, name = path.rpartition("/")
        assert fileset.rsplit("/", 1)[-1] == name
        found.add(fileset)
    return found


# --- import ------------------------------------------------------------------------------------


def test_import_builds_the_tree(cli, study, api, src):
    result = cli("import", str(src), DEST)
    assert result.counts == (len(FILES), 0, 0)
    assert result.bytes == sum(len(c) for c in FILES.values())
    assert result.err == ""

    assert lookup(api, "/Study/Imports")["kind"] == "folder"
    assert lookup(api, DEST)["kind"] == "folder"
    for rel, content in FILES.items():
        name = rel.rsplit("/", 1)[-1]
        fileset = lookup(api, f"{DEST}/{rel}")
        assert (fileset["kind"], fileset["name"]) == ("fileset", name)
        node = lookup(api, f"{DEST}/{rel}/{name}")
        assert (node["kind"], node["name"], node["size"]) == ("file", name, len(content))
        assert download(api, node["id"]) == content, rel
        parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
        if parent:
            assert lookup(api, f"{DEST}/{parent}")["kind"] == "folder"
    for rel in EMPTY_DIRS:
        assert lookup(api, f"{DEST}/{rel}")["kind"] == "folder"
    assert repository_files() == set(FILES)

    # the same names typed in NFD (macOS) find the same elements
    nfd = unicodedata.normalize("NFD", f"{DEST}/Ελληνικά/Åsa_öl.txt/Åsa_öl.txt")
    assert nfd != f"{DEST}/Ελληνικά/Åsa_öl.txt/Åsa_öl.txt"
    assert lookup(api, nfd)["name"] == "Åsa_öl.txt"

    big = lookup(api, f"{DEST}/Ελληνικά/뇌종양/患者データ.dcm/患者データ.dcm")
    assert big["size"] == BIG
    assert big["mime_type"] == "application/dicom"
    assert big["path"] == f"{DEST}/Ελληνικά/뇌종양/患者データ.dcm/患者データ.dcm"


def test_import_into_the_collection_itself(cli, study, src):
    assert cli("import", str(src), "/Study").counts == (len(FILES), 0, 0)
    assert repository_files("/Study") == set(FILES)


def test_reimport_skips_everything(cli, study, src):
    cli("import", str(src), DEST)
    nodes = Node.objects.count()
    result = cli("import", str(src), DEST)
    assert result.code == 0
    assert (
        result.out
        == f"imported 0 file(s), 0 bytes; skipped {len(FILES)} already present; 0 failed\n"
    )
    assert Node.objects.count() == nodes


def test_an_interrupted_import_is_finished_by_running_it_again(cli, study, src, tmp_path):
    # the first run got only part of the way: some of the files, some of the folders
    done = ["Ελληνικά/Åsa_öl.txt", "Ελληνικά/뇌종양/notes.txt", "README"]
    partial = build(tmp_path / "partial", {rel: FILES[rel] for rel in done}, [])
    assert cli("import", str(partial), DEST).counts == (3, 0, 0)

    result = cli("import", str(src), DEST)
    assert result.counts == (len(FILES) - 3, 3, 0)
    assert result.bytes == sum(len(c) for r, c in FILES.items() if r not in done)
    assert repository_files() == set(FILES)
    for rel in done:  # nothing was imported twice
        assert Node.objects.filter(name=rel.rsplit("/", 1)[-1], kind=Kind.FILE).count() == 1


def test_files_deleted_from_the_repository_are_imported_again(cli, study, src, boss):
    cli("import", str(src), DEST)
    # one fileset went to the recycle bin; another lost its file (a crash between the two)
    gone = file_node("Ελληνικά/뇌종양/患者データ.dcm").parent
    assert gone is not None
    trash.trash_nodes(Actor(user=boss, channel="cli"), [gone])
    emptied = file_node("Zażółć gęślą jaźń/niño_año.csv")
    trash.trash_nodes(Actor(user=boss, channel="cli"), [emptied])

    result = cli("import", str(src), DEST)
    assert result.counts == (2, len(FILES) - 2, 0)
    assert result.bytes == BIG + len(FILES["Zażółć gęślą jaźń/niño_año.csv"])
    assert repository_files() == set(FILES)
    assert file_node("Zażółć gęślą jaźń/niño_año.csv").parent_id == emptied.parent_id


def test_an_empty_fileset_of_the_same_name_is_filled(cli, study, src):
    folder = tree.create_folder(SYSTEM, study, "Pre")
    tree.create_fileset(SYSTEM, folder, "README")
    result = cli("import", str(src), "/Study/Pre")
    assert result.counts == (len(FILES), 0, 0)
    assert repository_files("/Study/Pre") == set(FILES)


def test_different_content_is_reported_and_not_replaced(cli, study, src, api):
    cli("import", str(src), DEST)
    changed = src / "Ελληνικά/Åsa_öl.txt"
    original = FILES["Ελληνικά/Åsa_öl.txt"]
    changed.write_bytes(original.upper())  # same size, different bytes
    (src / "Zażółć gęślą jaźń/niño_año.csv").write_bytes(b"other")
    nodes = Node.objects.count()

    result = cli("import", str(src), DEST)
    assert result.code == 1
    assert result.counts == (0, len(FILES) - 2, 2)
    assert sorted(result.failures) == sorted(
        [
            f"  failed: {changed}: {DEST}/Ελληνικά/Åsa_öl.txt/Åsa_öl.txt exists with different "
            "content; not replaced.",
            f"  failed: {src}/Zażółć gęślą jaźń/niño_año.csv: {DEST}/Zażółć gęślą jaźń/"
            "niño_año.csv/niño_año.csv exists with different content; not replaced.",
        ]
    )
    assert Node.objects.count() == nodes
    node = lookup(api, f"{DEST}/Ελληνικά/Åsa_öl.txt/Åsa_öl.txt")
    assert download(api, node["id"]) == original


def test_a_name_taken_by_something_else_is_reported(cli, study, src):
    imports = tree.create_folder(SYSTEM, study, "Imports")
    folder = tree.create_folder(SYSTEM, imports, "2024")
    tree.create_folder(SYSTEM, folder, "README")  # a folder where the file would go
    result = cli("import", str(src), DEST)
    assert result.counts == (len(FILES) - 1, 0, 1)
    assert result.failures == [f"  failed: {src}/README: {DEST}/README exists; not replaced."]


def test_symbolic_links_are_not_followed(cli, study, src, tmp_path):
    outside = build(tmp_path / "outside", {"secret.txt": b"not to be imported"}, [])
    (src / "link to file.txt").symlink_to(outside / "secret.txt")
    (src / "Ελληνικά" / "link to dir").symlink_to(outside, target_is_directory=True)
    (src / "dangling").symlink_to(tmp_path / "nowhere")

    result = cli("import", str(src), DEST)
    assert result.code == 1
    assert result.counts == (len(FILES), 0, 3)
    assert sorted(result.failures) == sorted(
        [
            f"  failed: {src}/link to file.txt: not a regular file (links are not followed)",
            f"  failed: {src}/dangling: not a regular file (links are not followed)",
            f"  failed: {src}/Ελληνικά/link to dir: symbolic links are not followed",
        ]
    )
    assert repository_files() == set(FILES)
    assert not Node.objects.filter(name__in=["secret.txt", "link to dir", "dangling"]).exists()
    assert not Node.objects.filter(name="link to file.txt").exists()


def test_names_that_are_not_utf8_are_refused_and_the_rest_imports(cli, study, src):
    root = os.fsencode(src)
    with open(root + b"/bad\xff name.txt", "wb") as fh:
        fh.write(b"latin-1 name")
    os.mkdir(root + b"/Ordner \xe4")  # "Ordner ä" in Latin-1
    with open(root + b"/Ordner \xe4/inside.txt", "wb") as fh:
        fh.write(b"in a folder that cannot be created")

    result = cli("import", str(src), DEST)
    assert result.code == 1
    assert result.counts == (len(FILES), 0, 2)
    assert sorted(result.failures) == sorted(
        [
            f"  failed: {src}/Ordner \\xe4: The name is not valid UTF-8 text ('Ordner \\udce4').",
            f"  failed: {src}/bad\\xff name.txt: The file name is not valid UTF-8 text "
            "('bad\\udcff name.txt').",
        ]
    )
    assert repository_files() == set(FILES)
    assert not Node.objects.filter(name="inside.txt").exists()


def test_nfd_names_are_stored_in_nfc(cli, study, tmp_path):
    nfd = unicodedata.normalize("NFD", "Åsa_öl.txt")
    source = build(tmp_path / "mac", {nfd: b"from a Mac"}, [])
    assert cli("import", str(source), DEST).counts == (1, 0, 0)
    assert repository_files() == {"Åsa_öl.txt"}
    assert cli("import", str(source), DEST).counts == (0, 1, 0)


def test_import_as_a_user_who_may_only_read(cli, capsys, study, src, make_user):
    reader = make_user("reader")
    AccessEntry.objects.create(node=study, user=reader, level=Level.READ)
    nodes = Node.objects.count()

    # missing folders cannot be made
    code = main(["import", str(src), DEST, "--as", "reader", "--quiet"])
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert err == "sinfonia: You need write access to 'Study'; you have read.\n"

    # into the collection itself: every element is refused
    code = main(["import", str(src), "/Study", "--as", "reader", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == "imported 0 file(s), 0 bytes; skipped 0 already present; 4 failed\n"
    assert "You need write access to 'Study'; you have read." in err
    assert Node.objects.count() == nodes


def test_import_as_a_user_who_cannot_see_the_collection(capsys, study, src, make_user):
    make_user("stranger")
    nodes = Node.objects.count()
    code = main(["import", str(src), DEST, "--as", "stranger", "--quiet"])
    assert code == 1
    assert capsys.readouterr().err == "sinfonia: Nothing at '/Study' that you may see.\n"
    assert Node.objects.count() == nodes


def test_import_as_a_user_with_write_access(cli, study, src, make_user):
    writer = make_user("writer")
    AccessEntry.objects.create(node=study, user=writer, level=Level.WRITE)
    assert cli("import", str(src), DEST, "--as", "writer").counts == (len(FILES), 0, 0)
    assert {
        n.creator_id for n in Node.objects.filter(ancestry__startswith=study.subtree_prefix)
    } == {writer.pk}


def test_import_as_an_unknown_user(capsys, study, src):
    assert main(["import", str(src), DEST, "--as", "nobody", "--quiet"]) == 1
    assert capsys.readouterr().err == "sinfonia: No user named 'nobody'.\n"


@pytest.mark.parametrize(
    ("source", "destination", "message"),
    [
        ("missing", DEST, "is not a directory."),
        ("src/README", DEST, "is not a directory."),
        ("src", "/Nope/Folder", "Nothing at '/Nope' that you may see."),
        ("src", "Study/Folder", "A path starts with '/'"),
        ("src", "/Study/Bad\tName", "must not contain control characters"),
        ("src", "/Study/README/deeper", "/Study/README is a fileset, not a folder."),
    ],
)
def test_import_refuses_bad_arguments(capsys, study, tmp_path, source, destination, message):
    build(tmp_path / "src")
    tree.create_fileset(SYSTEM, study, "README")
    nodes = Node.objects.count()
    code = main(["import", str(tmp_path / source), destination, "--quiet"])
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert err.startswith("sinfonia: ")
    assert message in err
    assert Node.objects.count() == nodes


def test_progress_bar_and_quiet(capsys, study, src, tmp_path):
    assert main(["import", str(src), DEST]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"imported {len(FILES)} file(s)")
    assert "import: 100%" in err
    assert "3.15M/3.15M" in err  # 3 MiB and a few bytes, in SI units

    assert main(["import", str(src), DEST, "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("imported 0 file(s)")
    assert err == ""

    assert main(["export", DEST, str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "export: 100%" in err
    assert "3.15M/3.15M" in err
    assert main(["export", DEST, str(tmp_path / "out"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_progress_bar_total_leaves_out_links(capsys, study, tmp_path):
    source = build(tmp_path / "small", {"a.txt": b"x" * 10}, [])
    (source / "b").symlink_to("a.txt")
    assert main(["import", str(source), DEST]) == 1
    err = capsys.readouterr().err
    assert "import: 100%" in err
    assert "10.0/10.0" in err


# --- export ------------------------------------------------------------------------------------


def test_round_trip_is_exact(cli, study, src, tmp_path):
    cli("import", str(src), DEST)
    out = tmp_path / "out"
    result = cli("export", DEST, str(out))
    assert result.counts == (len(FILES), 0, 0)
    assert result.bytes == sum(len(c) for c in FILES.values())
    assert [p.name for p in out.iterdir()] == ["2024"]  # the exported element itself
    assert snapshot(src) == expected()
    assert snapshot(out / "2024") == snapshot(src)


def test_export_of_a_collection_and_of_one_file(cli, study, src, tmp_path):
    cli("import", str(src), "/Study")
    result = cli("export", "/Study", str(tmp_path / "all"))
    assert result.counts == (len(FILES), 0, 0)
    assert snapshot(tmp_path / "all" / "Study") == snapshot(src)

    single = "/Study/Ελληνικά/뇌종양/患者データ.dcm/患者データ.dcm"
    assert cli("export", single, str(tmp_path / "one")).counts == (1, 0, 0)
    assert snapshot(tmp_path / "one") == {"患者データ.dcm": FILES["Ελληνικά/뇌종양/患者データ.dcm"]}


def test_a_fileset_with_several_files_becomes_a_directory(cli, study, api, tmp_path):
    fileset = tree.create_fileset(SYSTEM, study, "Série 1")
    api.ok(api.upload(fileset.id, "IM-0001.dcm", b"one"), 201)
    api.ok(api.upload(fileset.id, "IM-0002.dcm", b"two"), 201)
    assert cli("export", "/Study", str(tmp_path / "out")).counts == (2, 0, 0)
    assert snapshot(tmp_path / "out") == {
        "Study": None,
        "Study/Série 1": None,
        "Study/Série 1/IM-0001.dcm": b"one",
        "Study/Série 1/IM-0002.dcm": b"two",
    }


def test_export_is_resumable(cli, study, src, tmp_path):
    cli("import", str(src), DEST)
    out = tmp_path / "out"
    cli("export", DEST, str(out))

    again = cli("export", DEST, str(out))
    assert (
        again.out
        == f"exported 0 file(s), 0 bytes; skipped {len(FILES)} already present; 0 failed\n"
    )

    # an interrupted export: one file missing, one cut short
    (out / "2024/Ελληνικά/뇌종양/患者データ.dcm").unlink()
    with open(out / "2024/Zażółć gęślą jaźń/deeper/still deeper/leaf.bin", "r+b") as fh:
        fh.truncate(100)
    result = cli("export", DEST, str(out))
    assert result.counts == (2, len(FILES) - 2, 0)
    assert result.bytes == BIG + len(FILES["Zażółć gęślą jaźń/deeper/still deeper/leaf.bin"])
    assert snapshot(out / "2024") == snapshot(src)  # no partial files left behind


def test_export_refuses_what_the_user_may_not_read(capsys, study, src, make_user, tmp_path):
    main(["import", str(src), DEST, "--quiet"])
    capsys.readouterr()
    make_user("stranger")
    code = main(["export", DEST, str(tmp_path / "out"), "--as", "stranger", "--quiet"])
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert err == f"sinfonia: Nothing at '{DEST}' that you may see.\n"
    assert not (tmp_path / "out").exists()


def test_export_as_a_reader(cli, study, src, make_user, tmp_path):
    cli("import", str(src), DEST)
    reader = make_user("reader")
    AccessEntry.objects.create(node=study, user=reader, level=Level.READ)
    result = cli("export", DEST, str(tmp_path / "out"), "--as", "reader")
    assert result.counts == (len(FILES), 0, 0)
    assert snapshot(tmp_path / "out" / "2024") == snapshot(src)


def test_export_of_nothing(capsys, study, tmp_path):
    assert main(["export", "/Study/none", str(tmp_path / "out"), "--quiet"]) == 1
    assert capsys.readouterr().err == "sinfonia: Nothing at '/Study/none' that you may see.\n"


def test_round_trip_into_a_second_repository_location(cli, study, src, tmp_path):
    """import -> export -> import elsewhere -> export: still the same bytes and names."""
    cli("import", str(src), DEST)
    cli("export", DEST, str(tmp_path / "first"))
    cli("import", str(tmp_path / "first" / "2024"), "/Study/Copy")
    cli("export", "/Study/Copy", str(tmp_path / "second"))
    assert snapshot(tmp_path / "second" / "Copy") == snapshot(src)
