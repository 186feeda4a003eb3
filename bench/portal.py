"""Portal benchmark: the first page of a folder's contents list (the htmx partial the folder
page loads) for a folder of 10,000 entries. Target (issue 5): under 200 ms server time.

Timed through the whole Django stack (session, middleware, permission-filtered selector,
template) with the test client, as a user without site-admin rights who reads through a group
grant, for the default page (20 rows) and a 200-row page. The same-run reference is the same
page fetched with one raw SQL statement; the ratio is ours / reference.

    .venv/bin/python bench/portal.py [--entries 10000] [--repeat 30]

Runs on SQLite in a temporary data folder (removed at the end); set SINFONIA_DATABASE_URL to an
empty PostgreSQL database to measure there. Exit status 0 even when the target is missed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_MS = 200.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="sinfonia-bench-portal-"))
    os.environ["SINFONIA_DATA"] = str(data)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sinfonia.settings")
    sys.path.insert(0, str(REPO))
    try:
        run(args.entries, args.repeat)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def run(entries: int, repeat: int) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from sinfonia.accounts.services import groups, users
    from sinfonia.core.context import Actor
    from sinfonia.resources.models import Kind, Level, Node
    from sinfonia.resources.services import acl, tree
    from sinfonia.support.services import pages

    call_command("migrate", verbosity=0)
    system = Actor.local_system()
    reader, _ = users.create_user(system, "reader", password="bench-Pass-12345")
    group = groups.create_group(system, "readers")
    groups.set_member(system, group, reader)
    collection = tree.create_collection(system, "Bench")
    acl.set_acl(system, collection, [acl.Grant(group=group, level=Level.READ)], public=False)
    folder = tree.create_folder(system, collection, "Big")
    folder.refresh_from_db()
    Node.objects.bulk_create(
        [
            Node(
                kind=Kind.FOLDER,
                parent=folder,
                ancestry=folder.subtree_prefix,
                name=f"entry {i:06d}",
                sort_name=f"entry {i:06d}",
                acl_root_id=folder.acl_root_id,
            )
            for i in range(entries)
        ],
        batch_size=2000,
    )
    pages.accept_policy(Actor(user=reader, channel="web"))
    client = Client()
    client.force_login(reader)
    print(f"database: {connection.vendor}; folder of {entries} entries; {repeat} runs each")
    for limit in (20, 200):
        url = f"/r/{folder.id}/children/?limit={limit}"
        assert client.get(url).status_code == 200
        ours = []
        for _ in range(repeat):
            start = time.perf_counter()
            response = client.get(url)
            ours.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
        ref = []
        for _ in range(repeat):
            start = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT id, name, size FROM resources_node WHERE parent_id = %s AND NOT "
                    "in_trash ORDER BY kind, sort_name, id LIMIT %s",
                    [folder.id, limit],
                )
                cursor.fetchall()
            ref.append((time.perf_counter() - start) * 1000)
        median, reference = statistics.median(ours), statistics.median(ref)
        verdict = "meets" if median < TARGET_MS else "MISSES"
        print(
            f"first page of {limit:>3} rows: median {median:7.2f} ms (p95 "
            f"{sorted(ours)[int(0.95 * (len(ours) - 1))]:7.2f}) | raw SQL {reference:6.2f} ms | "
            f"ratio {median / reference:6.1f} | {verdict} the {TARGET_MS:.0f} ms target"
        )


if __name__ == "__main__":
    main()
