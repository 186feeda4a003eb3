"""Tree benchmark: listing a huge folder and copying a big one (run by hand, not a test).

Targets (the issue): a folder with 100,000 files lists its first page in under 50 ms median;
copying a folder of 10,000 files finishes in under 5 s and adds no bytes to blob storage.

In Sinfonia files live in filesets inside folders, so both shapes are measured:

(a) a folder holding N filesets of one file each (a "folder of N files" after a plain upload);
(b) a fileset holding N files.

Listing is timed through the real HTTP stack (Django test client, API key, ninja, JSON) as a
user without site-admin rights who reads through a group grant, i.e. the permission-filtered
path; the service call and an administrator (unfiltered) are shown beside it. Each figure has a
reference measured in the same run: the same page fetched with one raw SQL statement on the same
table (for listing), or the rows inserted with one ``INSERT ... SELECT`` (for copying). The ratio
is ours / reference.

    .venv/bin/python bench/tree.py [--db sqlite|postgres] [--files 100000] [--copy-files 10000]
                                   [--repeat 50] [--copy-repeat 3]

Everything lives in a temporary data folder (and, for PostgreSQL, a throw-away server started
with scripts/pg-test-server), removed at the end. The exit status is 0 even when a target is
missed: this is a report.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common import start_postgres, stop_postgres

if TYPE_CHECKING:
    from sinfonia.core.context import Actor
    from sinfonia.resources.models import Node

PAGE = 50
LISTING_TARGET_MS = 50.0
COPY_TARGET_S = 5.0
BLOB_POOL = 64  # distinct blob files; many file elements share each one
CHUNK = 5000  # elements built per bulk_create round while populating


# --------------------------------------------------------------------------- environment


# --------------------------------------------------------------------------- measuring


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def samples(fn: Callable[[], object], repeat: int) -> list[float]:
    fn()  # warm-up
    return [timed(fn) for _ in range(repeat)]


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def secs(seconds: float) -> str:
    return f"{seconds:.2f} s"


@dataclass
class Row:
    figure: str
    value: str
    target: str = "(info)"
    ok: bool | None = None
    reference: str = ""
    ratio: str = ""

    @property
    def verdict(self) -> str:
        return "" if self.ok is None else ("PASS" if self.ok else "FAIL")


@dataclass
class Report:
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print(f"  .. {row.figure}: {row.value} {row.verdict}", flush=True)

    def print(self) -> None:
        headers = ("figure", "measured", "target", "result", "reference", "ours/ref")
        table = [(r.figure, r.value, r.target, r.verdict, r.reference, r.ratio) for r in self.rows]
        widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(headers)]
        line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
        print()
        print(self.title)
        print(line)
        print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
        print(line.replace("-", "="))
        for t in table:
            print("| " + " | ".join(c.ljust(w) for c, w in zip(t, widths, strict=True)) + " |")
        print(line)
        for note in self.notes:
            print(f"  {note}")
        failed = [r.figure for r in self.rows if r.ok is False]
        print()
        if failed:
            print(f"*** FAIL: {len(failed)} target(s) missed: {'; '.join(failed)} ***")
        else:
            print(f"All {sum(r.ok is not None for r in self.rows)} targets met (PASS).")


def blob_usage() -> tuple[int, int]:
    """(total bytes, number of files) under the blob directory."""
    from sinfonia.storage.blobstore import blob_dir

    total = count = 0
    for root, _, names in os.walk(blob_dir()):
        for name in names:
            total += (Path(root) / name).stat().st_size
            count += 1
    return total, count


def ref_total() -> int:
    from django.db.models import Sum

    from sinfonia.storage.models import Blob

    return int(Blob.objects.aggregate(n=Sum("ref_count"))["n"] or 0)


# --------------------------------------------------------------------------- the benchmark


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.n: int = args.files
        self.m: int = args.copy_files
        self.rng = random.Random(20240601)
        self.report = Report(
            f"Sinfonia tree benchmark - {args.db}, {self.n:,} files to list, "
            f"{self.m:,} files to copy, {args.repeat} runs per listing figure"
        )
        self.blob_pool: list[tuple[str, int]] = []
        self.blob_taken: set[str] = set()
        self.extra_refs: list[str] = []

    # ---------------------------------------------------------------- population

    def setup_people(self) -> None:
        from sinfonia.accounts.models import Membership
        from sinfonia.accounts.services import apikeys, groups, users
        from sinfonia.core.context import Actor
        from sinfonia.resources.models import Level
        from sinfonia.resources.services import acl, tree

        system = Actor.local_system()
        password = "bench-Long-pass-123"
        self.admin, _ = users.create_user(system, "bench-admin", password=password, site_admin=True)
        self.reader, _ = users.create_user(system, "bench-reader", password=password)
        self.writer, _ = users.create_user(system, "bench-writer", password=password)
        self.admin_actor = Actor(user=self.admin, channel="cli", client="bench")
        self.reader_actor = Actor(user=self.reader, channel="cli", client="bench")
        self.writer_actor = Actor(user=self.writer, channel="cli", client="bench")

        readers = groups.create_group(self.admin_actor, "bench-readers")
        writers = groups.create_group(self.admin_actor, "bench-writers")
        Membership.objects.create(group=readers, user=self.reader)
        Membership.objects.create(group=writers, user=self.writer)
        # Some unrelated groups, grants and collections, so permission filters see a realistic
        # mix of entries rather than exactly one.
        others = []
        for i in range(10):
            other = groups.create_group(self.admin_actor, f"other-{i}")
            others.append(other)
            if i % 3 == 0:
                Membership.objects.create(group=other, user=self.reader)
            coll = tree.create_collection(self.admin_actor, f"Other {i}")
            acl.set_acl(
                self.admin_actor,
                coll,
                [acl.Grant(Level.ADMIN, user=self.admin), acl.Grant(Level.WRITE, group=other)],
            )

        self.coll = tree.create_collection(self.admin_actor, "Bench")
        acl.set_acl(
            self.admin_actor,
            self.coll,
            [
                acl.Grant(Level.ADMIN, user=self.admin),
                acl.Grant(Level.READ, group=readers),
                acl.Grant(Level.WRITE, group=writers),
                *(acl.Grant(Level.READ, group=o) for o in others[1::3]),
            ],
        )
        self.coll.refresh_from_db()
        self.keys = {
            "reader": apikeys.create_api_key(system, self.reader, "bench")[1],
            "admin": apikeys.create_api_key(system, self.admin, "bench")[1],
        }

    def setup_blobs(self) -> None:
        from sinfonia.storage import blobstore

        for i in range(BLOB_POOL):
            size = self.rng.randint(512, 8192)
            data = bytes(self.rng.getrandbits(8) for _ in range(size))
            stored = blobstore.write_chunks([data, f"#{i}".encode()])
            self.blob_pool.append((stored.sha256, stored.size))
        self.stored = {sha: blobstore.StoredBytes(sha, size) for sha, size in self.blob_pool}

    def pick_blob(self) -> tuple[str, int]:
        """A blob for one more file element, counted the way uploads and copies count it."""
        from sinfonia.storage.services import take_blob

        sha, size = self.rng.choice(self.blob_pool)
        if sha not in self.blob_taken:
            take_blob(self.stored[sha])  # the first file of this content stores it
            self.blob_taken.add(sha)
        else:
            self.extra_refs.append(sha)  # later ones are counted in bulk
        return sha, size

    def files_for(self, parent: Node, names: list[str]) -> list[Node]:
        from sinfonia.resources.models import Kind
        from sinfonia.resources.services.common import new_node

        nodes = []
        for name in names:
            sha, size = self.pick_blob()
            nodes.append(
                new_node(
                    kind=Kind.FILE,
                    parent=parent,
                    name=name,
                    acl_root_id=parent.acl_root_id,
                    creator=self.writer,
                    blob_id=sha,
                    size=size,
                    mime_type="application/dicom",
                )
            )
        return nodes

    def names(self, stem: str, count: int, suffix: str = "") -> list[str]:
        names = [f"{stem}-{i:06d}{suffix}" for i in range(count)]
        self.rng.shuffle(names)  # insertion order is not name order
        return names

    def filesets_of_one(self, parent: Node, count: int) -> None:
        """``count`` filesets, each holding one file, in ``parent`` (shape a)."""
        from django.db import transaction

        from sinfonia.resources.models import Kind, Node
        from sinfonia.resources.services.common import new_node

        names = self.names("series", count)
        for start in range(0, count, CHUNK):
            with transaction.atomic():
                filesets = [
                    new_node(
                        kind=Kind.FILESET,
                        parent=parent,
                        name=name,
                        acl_root_id=parent.acl_root_id,
                        creator=self.writer,
                    )
                    for name in names[start : start + CHUNK]
                ]
                Node.objects.bulk_create(filesets, batch_size=1000)
                files = [f for fs in filesets for f in self.files_for(fs, [f"{fs.name}.dcm"])]
                Node.objects.bulk_create(files, batch_size=1000)

    def files_in(self, fileset: Node, count: int) -> None:
        """``count`` files in ``fileset`` (shape b)."""
        from django.db import transaction

        from sinfonia.resources.models import Node

        names = self.names("image", count, ".dcm")
        for start in range(0, count, CHUNK):
            with transaction.atomic():
                files = self.files_for(fileset, names[start : start + CHUNK])
                Node.objects.bulk_create(files, batch_size=1000)

    def populate(self) -> None:
        from django.db import connection

        from sinfonia.resources.models import Node
        from sinfonia.resources.services import tree
        from sinfonia.storage.services import add_references

        t0 = time.perf_counter()
        self.setup_people()
        self.setup_blobs()
        a = self.admin_actor
        self.wide = tree.create_folder(a, self.coll, "wide")
        self.filesets_of_one(self.wide, self.n)
        series = tree.create_folder(a, self.coll, "study")
        self.flat = tree.create_fileset(a, series, "flat")
        self.files_in(self.flat, self.n)
        self.copy_wide = tree.create_folder(a, self.coll, "copy-wide")
        self.filesets_of_one(self.copy_wide, self.m)
        self.copy_study = tree.create_folder(a, self.coll, "copy-study")
        self.copy_flat = tree.create_fileset(a, self.copy_study, "flat")
        self.files_in(self.copy_flat, self.m)
        add_references(self.extra_refs)
        files = 2 * self.n + 2 * self.m
        assert ref_total() == files, (ref_total(), files)
        if connection.vendor == "postgresql":
            # What autovacuum does on a running server after bulk inserts (statistics, visibility
            # map); doing it now also keeps autovacuum from competing with the measurements.
            with connection.cursor() as cur:
                cur.execute("VACUUM ANALYZE")
            self.report.notes.append("PostgreSQL: VACUUM ANALYZE after populating.")
        self.report.notes.append(
            f"Populated {files:,} files in {Node.objects.count():,} elements, "
            f"{BLOB_POOL} distinct blobs, in {time.perf_counter() - t0:.1f} s."
        )
        print(f"populated in {time.perf_counter() - t0:.1f} s", flush=True)

    # ---------------------------------------------------------------- listing

    def http_lister(self, who: str, node: Node, **params: Any) -> Callable[[], object]:
        from django.test import Client

        client = Client(headers={"Authorization": f"Bearer {self.keys[who]}"})
        url = f"/api/v1/resources/{node.id}/children"
        query = {"limit": PAGE, **params}

        def run() -> object:
            response = client.get(url, query)
            assert response.status_code == 200, (response.status_code, response.content[:300])
            body = response.json()
            assert len(body["items"]) == PAGE and body["total"] == self.n, body["total"]
            return body

        return run

    def service_lister(self, actor: Actor, node: Node, **params: Any) -> Callable[[], object]:
        from sinfonia.resources import selectors

        def run() -> object:
            page = selectors.list_children(actor, node, limit=PAGE, **params)
            assert len(page.items) == PAGE and page.total == self.n
            return page

        return run

    def raw_lister(self, node: Node, order: str, offset: int = 0) -> Callable[[], object]:
        """The floor: the same page with one hand-written statement, no permission filter."""
        from django.db import connection

        from sinfonia.resources.models import Node

        table = Node._meta.db_table
        sql = (
            f"SELECT * FROM {table} WHERE parent_id = %s AND NOT in_trash "
            f"ORDER BY {order} LIMIT {PAGE} OFFSET {offset}"
        )

        def run() -> object:
            with connection.cursor() as cur:
                cur.execute(sql, [node.id])
                rows = cur.fetchall()
            assert len(rows) == PAGE
            return rows

        return run

    def count_queries(self, fn: Callable[[], object]) -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            fn()
        if os.environ.get("BENCH_SHOW_SQL"):
            for q in ctx.captured_queries:
                print("   SQL", q["time"], q["sql"][:400])
        return len(ctx.captured_queries)

    def listing(self, label: str, node: Node) -> None:
        repeat = self.args.repeat
        mid = self.n // 2
        by_name = "kind, sort_name, id"
        by_size = "kind, size DESC, sort_name DESC, id DESC"
        raw = {
            "first": statistics.median(samples(self.raw_lister(node, by_name), repeat)),
            "mid": statistics.median(samples(self.raw_lister(node, by_name, mid), repeat)),
            "size": statistics.median(samples(self.raw_lister(node, by_size), repeat)),
        }
        figures: list[tuple[str, Callable[[], object], str, bool]] = [
            (
                "first page, HTTP, group reader",
                self.http_lister("reader", node),
                "first",
                True,
            ),
            (
                "first page, service call, group reader",
                self.service_lister(self.reader_actor, node),
                "first",
                False,
            ),
            ("first page, HTTP, site admin", self.http_lister("admin", node), "first", False),
            (
                f"page at offset {mid:,}, HTTP, group reader",
                self.http_lister("reader", node, offset=mid),
                "mid",
                False,
            ),
            (
                "first page by size desc, HTTP, group reader",
                self.http_lister("reader", node, sort="size", order="desc"),
                "size",
                False,
            ),
        ]
        for name, fn, ref, targeted in figures:
            queries = self.count_queries(fn)
            values = samples(fn, repeat)
            median = statistics.median(values)
            self.report.add(
                Row(
                    figure=f"{label}: {name} [{queries} queries]",
                    value=f"{ms(median)} (p95 {ms(p95(values))})",
                    target=f"median < {LISTING_TARGET_MS:.0f} ms" if targeted else "(info)",
                    ok=(median * 1000 < LISTING_TARGET_MS) if targeted else None,
                    reference=f"raw SQL {ms(raw[ref])}",
                    ratio=f"{median / raw[ref]:.1f}x",
                )
            )

    # ---------------------------------------------------------------- copying

    def raw_copy(self, src: Node) -> float:
        """The floor: insert the subtree's rows once with ``INSERT ... SELECT`` (rolled back)."""
        from django.db import connection, transaction

        from sinfonia.resources.models import Node

        table = Node._meta.db_table
        columns = [str(f.column) for f in Node._meta.concrete_fields if f.column != "id"]
        # in_trash = true keeps the copied names clear of the unique-name index.
        chosen = ["TRUE" if c == "in_trash" else c for c in columns]
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(chosen)} "
            f"FROM {table} WHERE ancestry LIKE %s"
        )
        with transaction.atomic():
            start = time.perf_counter()
            with connection.cursor() as cur:
                cur.execute(sql, [f"{src.subtree_prefix}%"])
            elapsed = time.perf_counter() - start
            transaction.set_rollback(True)
        return elapsed

    def copying(self, label: str, src: Node, expected_nodes: int) -> None:
        from sinfonia.resources.models import Node
        from sinfonia.resources.services import copymove, tree

        blobs_before = blob_usage()
        refs_before = ref_total()
        times = []
        refs_each = []
        nodes_each = []
        for i in range(self.args.copy_repeat):
            dest = tree.create_folder(self.admin_actor, self.coll, f"{src.name}-dest-{i}")
            dest.refresh_from_db()
            nodes = Node.objects.count()
            refs = ref_total()
            start = time.perf_counter()
            (top,) = copymove.copy_nodes(self.writer_actor, [src], dest)
            times.append(time.perf_counter() - start)
            refs_each.append(ref_total() - refs)
            nodes_each.append(Node.objects.count() - nodes)
            assert top.parent_id == dest.id
        raw = statistics.median(self.raw_copy(src) for _ in range(self.args.copy_repeat))
        blobs_after = blob_usage()
        worst = max(times)
        median = statistics.median(times)
        self.report.add(
            Row(
                figure=f"{label}: copy as group writer ({len(times)} runs)",
                value=f"{secs(median)} (max {secs(worst)})",
                target=f"max < {COPY_TARGET_S:.0f} s",
                ok=worst < COPY_TARGET_S,
                reference=f"INSERT..SELECT {secs(raw)}",
                ratio=f"{median / raw:.1f}x",
            )
        )
        added_bytes = blobs_after[0] - blobs_before[0]
        added_files = blobs_after[1] - blobs_before[1]
        self.report.add(
            Row(
                figure=f"{label}: blob storage added by the copies",
                value=f"{added_bytes} bytes, {added_files} files "
                f"(of {blobs_after[0]:,} B in {blobs_after[1]} files)",
                target="0 bytes, 0 files",
                ok=added_bytes == 0 and added_files == 0,
            )
        )
        self.report.add(
            Row(
                figure=f"{label}: blob references added per copy",
                value=", ".join(f"+{r:,}" for r in refs_each),
                target=f"+{self.m:,} each",
                ok=all(r == self.m for r in refs_each)
                and ref_total() - refs_before == self.m * len(times),
            )
        )
        self.report.add(
            Row(
                figure=f"{label}: elements added per copy",
                value=", ".join(f"+{n:,}" for n in nodes_each),
                target=f"+{expected_nodes:,} each",
                ok=all(n == expected_nodes for n in nodes_each),
            )
        )

    # ---------------------------------------------------------------- run

    def describe_db(self) -> None:
        from django.db import connection

        with connection.cursor() as cur:
            if connection.vendor == "postgresql":
                cur.execute("SELECT version()")
                version = str(cur.fetchone()[0]).split(" on ")[0]
            else:
                cur.execute("SELECT sqlite_version()")
                version = f"SQLite {cur.fetchone()[0]}"
        self.report.notes.append(
            f"{version}; Python {platform.python_version()}; {platform.machine()}, "
            f"{os.cpu_count()} CPUs."
        )

    def run(self) -> None:
        self.describe_db()
        self.populate()
        n = self.n
        print("listing ...", flush=True)
        self.listing(f"(a) folder of {n:,} filesets x 1 file", self.wide)
        self.listing(f"(b) fileset of {n:,} files", self.flat)
        print("copying ...", flush=True)
        m = self.m
        self.copying(f"(a) folder of {m:,} filesets x 1 file", self.copy_wide, 2 * m + 1)
        self.copying(f"(b) folder with a fileset of {m:,} files", self.copy_study, m + 2)
        self.report.notes.append(
            "Listing: median (p95) over the runs after one warm-up; [n queries] = SQL statements "
            "per call. Reference: the same page with one raw SELECT, no permission filter."
        )
        self.report.print()


def arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--files", type=int, default=100_000, help="files in the big listing")
    parser.add_argument("--copy-files", type=int, default=10_000, help="files in the copied folder")
    parser.add_argument("--repeat", type=int, default=50, help="timed runs per listing figure")
    parser.add_argument("--copy-repeat", type=int, default=3, help="timed copies per shape")
    args = parser.parse_args(argv)
    if args.files < 2 * PAGE or args.copy_files < 1 or args.repeat < 1 or args.copy_repeat < 1:
        parser.error("--files must be at least 100; the other counts at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    data = tempfile.mkdtemp(prefix="sinfonia-bench-")
    pg_dir: str | None = None
    try:
        os.environ["SINFONIA_DATA"] = data
        os.environ["DJANGO_SETTINGS_MODULE"] = "sinfonia.settings"
        os.environ.setdefault("SINFONIA_LOG_LEVEL", "WARNING")
        os.environ.pop("SINFONIA_DEBUG", None)
        os.environ.pop("SINFONIA_DATABASE_URL", None)
        if args.db == "postgres":
            pg_dir = tempfile.mkdtemp(prefix="sfpg-")
            os.environ["SINFONIA_DATABASE_URL"] = start_postgres(pg_dir)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        Bench(args).run()
    finally:
        if pg_dir is not None:
            if "django.db" in sys.modules:
                from django.db import connections

                connections.close_all()
            stop_postgres(pg_dir)
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
