"""The audit trail for administrators: REST pages with filters, the streamed CSV export and the
portal page; everyone else is refused."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from sinfonia.accounts.models import User
from sinfonia.audit.models import AuditEvent
from tests.conftest import Api
from tests.web.test_views import browser as portal


@pytest.fixture
def trail(admin_api: Api, make_user, api_for):
    """alice works in /WP2; root made the collection; an old event from last year."""
    alice = make_user("alice")
    coll = admin_api.ok(admin_api.post("/collections", {"name": "WP2"}), 201)
    admin_api.ok(
        admin_api.put(
            f"/resources/{coll['id']}/acl", {"entries": [{"user": "alice", "level": "write"}]}
        )
    )
    a = api_for(alice)
    folder = a.ok(a.post("/folders", {"parent_id": coll["id"], "name": "CT"}), 201)
    f = a.ok(a.upload(folder["id"], "=HYPERLINK(1)+2.txt", b"x"), 201)
    assert a.get(f"/files/{f['id']}/download").status_code == 200
    old = AuditEvent.objects.create(username="ghost", action="group.create", channel="cli")
    AuditEvent.objects.filter(pk=old.pk).update(at=timezone.now() - timedelta(days=400))
    return {"coll": coll, "folder": folder, "file": f, "alice": a}


def test_events_filter_by_user_action_path_and_date(admin_api, trail):
    everything = admin_api.ok(admin_api.get("/audit"))
    assert everything["total"] == len(everything["items"]) >= 6
    alice = admin_api.ok(admin_api.get("/audit", username="alice"))
    assert {e["action"] for e in alice["items"]} == {
        "folder.create",
        "file.upload",
        "file.download",
    }
    files = admin_api.ok(admin_api.get("/audit", action="file."))
    assert {e["action"] for e in files["items"]} == {"file.upload", "file.download"}
    below = admin_api.ok(admin_api.client.get("/api/v1/audit", {"path": "/WP2/CT"}))
    assert below["total"] == 3 and all(e["path"].startswith("/WP2/CT") for e in below["items"])
    recent = admin_api.ok(
        admin_api.get("/audit", since=(timezone.now() - timedelta(days=1)).isoformat())
    )
    assert "ghost" not in {e["username"] for e in recent["items"]}
    page = admin_api.ok(admin_api.get("/audit", limit=2, offset=1))
    assert len(page["items"]) == 2 and page["total"] == everything["total"]
    assert page["items"][0]["id"] == everything["items"][1]["id"]


def test_the_csv_export_streams_every_matching_event_and_defuses_formulas(admin_api, trail):
    response = admin_api.get("/audit.csv", username="alice")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="sinfonia-audit.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["at", "user", "action", "path", "node_id", "channel", "client", "detail"]
    assert sorted(r[2] for r in rows[1:]) == ["file.download", "file.upload", "folder.create"]
    assert all(r[1] == "alice" for r in rows[1:])
    # a file name that looks like a spreadsheet formula stays text
    assert not any(cell.startswith(("=", "+", "@")) for r in rows[1:] for cell in r)


def test_only_site_administrators_read_the_audit(trail, anon_api):
    alice: Api = trail["alice"]
    for path in ("/audit", "/audit.csv"):
        refused = alice.get(path)
        assert refused.status_code == 403, refused
        assert refused.json()["code"] == "not_site_admin"
        assert anon_api.get(path).status_code == 401
    page = portal(User.objects.get(username="alice"))
    assert page.get("/audit/").status_code == 403
    assert "nav-audit" not in page.get("/dashboard/", follow=True).content.decode()


def test_the_audit_page_filters_paginates_and_links_the_export(admin, trail):
    page = portal(admin)
    html = page.get("/dashboard/", follow=True).content.decode()
    assert 'id="nav-audit"' in html
    html = page.get(
        "/audit/", {"username": "alice", "action": "file.", "since": "2020-01-01"}
    ).content.decode()
    assert "file.upload" in html and "file.download" in html and "folder.create" not in html
    assert (
        'href="/api/v1/audit.csv?username=alice&amp;action=file.&amp;since=2020-01-01T00%3A00%3A00%2B00%3A00"'
        in html
    )
    for n in range(60):
        AuditEvent.objects.create(
            username="bulk", action="group.update", channel="cli", path=str(n)
        )
    first = page.get("/audit/", {"username": "bulk"}).content.decode()
    assert "Page 1 of 2" in first and 'id="audit-next"' in first
    second = page.get("/audit/", {"username": "bulk", "page": "2"}).content.decode()
    assert "Page 2 of 2" in second and 'id="audit-prev"' in second
    assert "is not a date" in page.get("/audit/", {"since": "yesterday"}).content.decode()


def _csv_peak(admin_api: Api, count: int) -> tuple[int, int]:
    """(rows streamed, peak bytes allocated while streaming) after adding ``count`` events."""
    import tracemalloc

    AuditEvent.objects.bulk_create(
        AuditEvent(username="bulk", action="file.download", channel="api", path=f"/WP2/{n}" * 4)
        for n in range(count)
    )
    response = admin_api.get("/audit.csv", username="bulk")
    tracemalloc.start()
    rows = sum(chunk.count(b"\n") for chunk in response.streaming_content) - 1
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return rows, peak


def test_the_csv_export_memory_stays_flat(admin_api):
    small_rows, small_peak = _csv_peak(admin_api, 2_000)
    AuditEvent.objects.filter(username="bulk").delete()
    big_rows, big_peak = _csv_peak(admin_api, 20_000)
    assert (small_rows, big_rows) == (2_000, 20_000)
    # ten times the rows, about the same memory: rows are fetched 2,000 at a time
    assert big_peak < 2 * small_peak + 1_000_000, (small_peak, big_peak)
    print(f"audit.csv peak: {small_peak / 1e6:.1f} MB for 2k rows, {big_peak / 1e6:.1f} MB for 20k")
