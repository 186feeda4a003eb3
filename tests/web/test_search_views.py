"""The portal's search views through Django's test client: who may search, what they find
(only what they may read), the results partial's pages, sorts, links and errors, and the
shareable ``/search/?q=`` surviving the log-in and privacy-policy redirects."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client
from pydicom.datadict import keyword_dict

from sinfonia.accounts.models import User
from sinfonia.core.context import Actor
from sinfonia.resources.models import Level, Node
from sinfonia.resources.services import files, tree
from sinfonia.resources.services.acl import Grant, set_acl
from sinfonia.web.search import COMMON_DICOM_KEYWORDS
from tests.web.test_views import browser

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared(admin: User, make_user: Callable[..., User]) -> dict[str, Node]:
    """A collection alice may read, and one only the administrator may."""
    a = Actor(user=admin, channel="web")
    alice = make_user("alice")
    mine = tree.create_collection(a, "Thorax study")
    set_acl(a, mine, [Grant(Level.ADMIN, user=admin), Grant(Level.READ, user=alice)])
    folder = tree.create_folder(a, mine, "Baseline <b>scans<b>", description="thorax CT cohort")
    fileset = tree.create_fileset(a, folder, "Patient 42")
    report = files.upload_file(a, fileset, "thorax report.pdf", io.BytesIO(b"%PDF-1.4 x"))
    closed = tree.create_collection(a, "Secret thorax")
    set_acl(a, closed, [Grant(Level.ADMIN, user=admin)])
    hidden = files.upload_file(
        a, tree.create_fileset(a, closed, "Hidden"), "thorax hidden.txt", io.BytesIO(b"x")
    )
    return {"mine": mine, "folder": folder, "report": report, "closed": closed, "hidden": hidden}


def names(body: str) -> set[str]:
    return set(re.findall(r'class="list-group-item px-1 sf-hit"[^>]*data-name="([^"]*)"', body))


def test_anonymous_visitors_log_in_first_and_come_back_to_the_results(
    shared: dict[str, Node], make_user: Callable[..., User]
) -> None:
    for path in ("/search/?q=thorax", "/search/results/?q=thorax", "/search/advanced/"):
        response = Client().get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/?next=")
    target = parse_qs(urlparse(Client().get("/search/?q=thorax report")["Location"]).query)
    assert target["next"] == ["/search/?q=thorax%20report"]
    # Signed in but the privacy policy not accepted yet: the query survives that detour too.
    newcomer = browser(User.objects.get(username="alice"), accepted=False)
    detour = newcomer.get("/search/?q=thorax%20report&sort=name")
    assert detour.status_code == 302
    assert parse_qs(urlparse(detour["Location"]).query)["next"] == [
        "/search/?q=thorax%20report&sort=name"
    ]


def test_a_stranger_finds_nothing_of_others_and_alice_only_what_she_reads(
    shared: dict[str, Node], admin: User, make_user: Callable[..., User]
) -> None:
    stranger = browser(make_user("stranger"))
    for path in ("/search/?q=thorax", "/search/results/?q=thorax"):
        response = stranger.get(path)
        assert response.status_code == 200
        body = response.content.decode()
        assert names(body) == set() and "Nothing found that you may see." in body
        assert "Secret" not in body and "Patient 42" not in body
    alice = browser(User.objects.get(username="alice"))
    found = names(alice.get("/search/results/?q=thorax").content.decode())
    assert found == {"Thorax study", "Baseline &lt;b&gt;scans&lt;b&gt;", "thorax report.pdf"}
    everything = names(browser(admin).get("/search/results/?q=thorax").content.decode())
    assert {"Secret thorax", "thorax hidden.txt"} <= everything
    # A place alice may not see reads like one that does not exist.
    missing = alice.get("/search/results/?q=thorax under:/Secret%20thorax").content.decode()
    assert 'id="search-error"' in missing and names(missing) == set()


def test_each_hit_has_its_place_what_matched_and_links_to_new_tabs(
    shared: dict[str, Node],
) -> None:
    alice = browser(User.objects.get(username="alice"))
    body = alice.get("/search/results/?q=thorax%20type:pdf").content.decode()
    assert names(body) == {"thorax report.pdf"}
    report = shared["report"]
    link = f'href="/r/{report.id}/" target="_blank" rel="noopener"'
    assert link in body
    # its place: a link per ancestor, the names escaped
    assert f'href="/r/{shared["mine"].id}/" target="_blank" rel="noopener">Thorax study' in body
    assert "Baseline &lt;b&gt;scans&lt;b&gt;" in body and "<b>scans" not in body
    # what matched, the matching word marked
    assert "<mark>thorax</mark> report.pdf" in body
    assert 'title="Matched by type:pdf"' in body
    # every link in a hit opens a new tab
    for anchor in re.findall(
        r"<a [^>]*sf-hit-link[^>]*>|<li class=\"breadcrumb-item\"><a [^>]*>", body
    ):
        assert 'target="_blank"' in anchor and 'rel="noopener"' in anchor


def test_results_page_sort_and_share(admin: User, shared: dict[str, Node]) -> None:
    a = Actor(user=admin, channel="web")
    for i in range(25):
        tree.create_folder(a, shared["folder"], f"scan {i:02d}")
    client = browser(admin)
    first = client.get("/search/results/?q=scan kind:folder&sort=name").content.decode()
    assert "1\N{EN DASH}20 of 25 found" in first
    assert "scan 00" in first and "scan 19" in first and "scan 20" not in first
    nxt = re.search(r'id="search-next" hx-get="([^"]+)"', first)
    assert nxt is not None
    second = client.get(nxt.group(1).replace("&amp;", "&")).content.decode()
    assert "21\N{EN DASH}25 of 25 found" in second
    assert "scan 24" in second and "scan 00" not in second
    desc = client.get("/search/results/?q=scan kind:folder&sort=name&order=desc").content.decode()
    assert desc.index("scan 24") < desc.index("scan 23")
    share = re.search(r'data-share-url="([^"]+)"', desc)
    assert share is not None
    shared_url = share.group(1).replace("&amp;", "&")
    assert parse_qs(urlparse(shared_url).query) == {
        "q": ["scan kind:folder"],
        "sort": ["name"],
        "order": ["desc"],
    }
    page = client.get(shared_url)
    assert page.status_code == 200
    body = page.content.decode()
    assert 'id="search-page"' in body and body.index("scan 24") < body.index("scan 23")
    assert 'value="scan kind:folder"' in body  # the header box and the page's box show it


def test_a_malformed_query_is_explained(shared: dict[str, Node]) -> None:
    alice = browser(User.objects.get(username="alice"))
    partial = alice.get("/search/results/?q=size:10XB")
    assert partial.status_code == 200  # htmx swaps it in
    assert 'id="search-error"' in partial.content.decode()
    page = alice.get('/search/?q="unclosed')
    assert page.status_code == 400 and "never closed" in page.content.decode()
    empty = alice.get("/search/").content.decode()
    assert 'id="search-help"' in empty and "modality:RTDOSE" in empty


def test_header_box_and_folder_scope(shared: dict[str, Node]) -> None:
    alice = browser(User.objects.get(username="alice"))
    dashboard = alice.get("/dashboard/").content.decode()
    assert 'id="quick-search-input"' in dashboard and 'id="advanced-button"' in dashboard
    assert 'id="dlg-search"' in dashboard and 'id="dlg-advanced"' in dashboard
    assert 'id="quick-search-scope"' not in dashboard
    folder = alice.get(f"/r/{shared['folder'].id}/").content.decode()
    assert '<option value="/Thorax study/Baseline &lt;b&gt;scans&lt;b&gt;">' in folder
    anonymous = Client().get("/").content.decode()
    assert 'placeholder="Log in to search"' in anonymous and 'id="dlg-search"' not in anonymous


def test_advanced_dialog_offers_fields_types_and_dicom_keywords(shared: dict[str, Node]) -> None:
    body = browser(User.objects.get(username="alice")).get("/search/advanced/").content.decode()
    assert 'id="adv-row-template"' in body and '<datalist id="dicom-keywords">' in body
    for value in ('value="dicom"', 'value="pdf"', 'value="Modality"', 'value="ProtocolName"'):
        assert value in body
    assert all(keyword in keyword_dict for keyword in COMMON_DICOM_KEYWORDS)
