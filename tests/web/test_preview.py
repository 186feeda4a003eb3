"""The previewer's server side: office documents → PDF (background conversion by a real
LibreOffice), DICOM window/frame rendering, and ZIP downloads reporting progress under a token."""

from __future__ import annotations

import io
import shutil
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from PIL import Image
from pydicom.data import get_testdata_file

from sinfonia.accounts.models import User
from sinfonia.audit.models import AuditEvent
from sinfonia.core.context import Actor
from sinfonia.resources.models import Node
from sinfonia.resources.services import files, trash, tree
from sinfonia.storage import previews
from sinfonia.storage.services import collect_garbage
from sinfonia.support.services import pages
from sinfonia.transfers.models import Operation, Status
from sinfonia.transfers.services.operations import run_pending, run_pollers
from tests.conftest import Api
from tests.web.office_files import docx, is_pdf, odt

pytestmark = pytest.mark.django_db

needs_libreoffice = pytest.mark.skipif(
    shutil.which("soffice") is None, reason="needs LibreOffice (./run test installs it)"
)


@pytest.fixture
def owner(make_user: Callable[..., User]) -> User:
    return make_user("olga")


@pytest.fixture
def fileset(owner: User) -> Node:
    a = Actor(user=owner, channel="web")
    return tree.create_fileset(a, tree.ensure_home(owner), "Patient 7")


def add(owner: User, parent: Node, name: str, data: bytes) -> Node:
    return files.upload_file(Actor(user=owner, channel="web"), parent, name, io.BytesIO(data))


def portal(user: User) -> Client:
    client = Client()
    client.force_login(user)
    pages.accept_policy(Actor(user=user, channel="web"))
    return client


# -- office documents --------------------------------------------------------------------------


@needs_libreoffice
def test_office_document_is_converted_once_in_the_background(
    owner: User, fileset: Node, make_user: Callable[..., User]
) -> None:
    content = odt("Dose report")
    doc = add(owner, fileset, "report.odt", content)
    api = Api(owner)
    first = api.get(f"/files/{doc.id}/pdf")
    assert first.status_code == 202 and first.json()["state"] == "converting"
    assert api.get(f"/files/{doc.id}/pdf").status_code == 202  # still one operation
    assert Operation.objects.filter(kind="preview.office").count() == 1
    assert run_pending() == 1
    op = Operation.objects.get(kind="preview.office")
    assert op.status == Status.DONE, op.error
    ready = api.get(f"/files/{doc.id}/pdf")
    assert ready.status_code == 200 and ready["Content-Type"] == "application/pdf"
    assert ready["X-Frame-Options"] == "SAMEORIGIN"  # the previewer frames it
    assert is_pdf(b"".join(ready.streaming_content))
    assert AuditEvent.objects.filter(action="file.preview", node=doc).count() == 1
    # The same bytes under another name, uploaded by someone else: no second conversion.
    other = make_user("otto")
    copy = add(other, tree.ensure_home(other), "copy.odt", content)
    again = Api(other).get(f"/files/{copy.id}/pdf")
    assert again.status_code == 200 and is_pdf(b"".join(again.streaming_content))
    assert Operation.objects.filter(kind="preview.office").count() == 1


@needs_libreoffice
def test_docx_through_the_portal_previewer(owner: User, fileset: Node) -> None:
    doc = add(owner, fileset, "letter.docx", docx("Dear committee"))
    client = portal(owner)
    converting = client.get(f"/r/{doc.id}/preview/").content.decode()
    assert 'id="preview-converting"' in converting
    assert f'hx-get="/r/{doc.id}/preview/"' in converting
    run_pending()
    shown = client.get(f"/r/{doc.id}/preview/").content.decode()
    assert f'src="/api/v1/files/{doc.id}/pdf"' in shown and "preview-converting" not in shown
    pdf: Any = client.get(f"/api/v1/files/{doc.id}/pdf")  # the portal's session works too
    assert pdf.status_code == 200 and is_pdf(b"".join(pdf.streaming_content))


def test_only_readers_get_the_pdf(
    owner: User, fileset: Node, make_user: Callable[..., User], anon_api: Api
) -> None:
    doc = add(owner, fileset, "secret.odt", odt("Secret"))
    assert Api(make_user("stranger")).get(f"/files/{doc.id}/pdf").status_code == 404
    assert anon_api.get(f"/files/{doc.id}/pdf").status_code == 401
    assert portal(make_user("mallory")).get(f"/r/{doc.id}/preview/").status_code == 404
    assert not Operation.objects.filter(kind="preview.office").exists()


def test_other_files_are_not_converted(owner: User, fileset: Node) -> None:
    text = add(owner, fileset, "notes.txt", b"plain")
    r = Api(owner).get(f"/files/{text.id}/pdf")
    assert r.status_code == 400 and r.json()["code"] == "not_convertible"


def fake_soffice(settings: Any, tmp_path: Path, script: str) -> None:
    """LibreOffice replaced by a shell script."""
    program = tmp_path / "soffice"
    program.write_text("#!/bin/sh\n" + script)
    program.chmod(0o755)
    settings.SINFONIA_SOFFICE = str(program)


def test_a_failed_conversion_is_reported_and_not_retried(
    owner: User, fileset: Node, settings: Any, tmp_path: Path
) -> None:
    fake_soffice(settings, tmp_path, "echo 'Error: source file could not be loaded'\nexit 1\n")
    doc = add(owner, fileset, "broken.docx", b"not really a document")
    api = Api(owner)
    assert api.get(f"/files/{doc.id}/pdf").status_code == 202
    run_pending()
    op = Operation.objects.get(kind="preview.office")
    assert op.status == Status.FAILED and "could not be loaded" in op.error
    r = api.get(f"/files/{doc.id}/pdf")
    assert r.status_code == 400 and r.json()["code"] == "conversion_failed"
    shown = portal(owner).get(f"/r/{doc.id}/preview/").content.decode()
    assert 'id="preview-office-problem"' in shown and "could not be loaded" in shown
    assert f"/api/v1/files/{doc.id}/download" in shown  # download remains
    assert Operation.objects.filter(kind="preview.office").count() == 1
    assert not list((tmp_path / "tmp").glob("office-*"))  # the temporary copy is gone


def test_a_conversion_that_hangs_is_killed(
    owner: User, fileset: Node, settings: Any, tmp_path: Path
) -> None:
    fake_soffice(settings, tmp_path, "sleep 30\n")
    settings.SINFONIA_OFFICE_TIMEOUT = 1
    doc = add(owner, fileset, "slow.xlsx", b"PK whatever")
    Api(owner).get(f"/files/{doc.id}/pdf")
    run_pending()
    assert "longer than 1 s" in Operation.objects.get(kind="preview.office").error


def test_without_libreoffice_the_previewer_says_so(
    owner: User, fileset: Node, settings: Any
) -> None:
    settings.SINFONIA_SOFFICE = "no-such-soffice-here"
    doc = add(owner, fileset, "slides.pptx", b"PK whatever")
    r = Api(owner).get(f"/files/{doc.id}/pdf")
    assert r.status_code == 400 and r.json()["code"] == "converter_missing"
    shown = portal(owner).get(f"/r/{doc.id}/preview/").content.decode()
    assert "LibreOffice is not installed" in shown
    assert not Operation.objects.exists()


def test_garbage_collection_removes_the_pdf(owner: User, fileset: Node) -> None:
    doc = add(owner, fileset, "gone.odt", odt("Gone"))
    assert doc.blob_id is not None
    made = Path(previews.preview_dir()) / "made.pdf"
    made.parent.mkdir(parents=True, exist_ok=True)
    made.write_bytes(b"%PDF-1.4 fake")
    previews.store_pdf(doc.blob_id, made)
    assert previews.has_pdf(doc.blob_id)
    a = Actor(user=owner, channel="web")
    (item,) = trash.trash_nodes(a, [doc])
    trash.purge(a, item.id)
    collect_garbage([doc.blob_id])
    assert not previews.has_pdf(doc.blob_id)


# -- DICOM window / level and frames -----------------------------------------------------------


def dicom_file(owner: User, fileset: Node, name: str = "CT_small.dcm") -> Node:
    data = Path(get_testdata_file(name)).read_bytes()  # type: ignore[arg-type]
    node = add(owner, fileset, name, data)
    run_pollers()  # index it
    return node


def png(response: Any) -> Image.Image:
    assert response.status_code == 200, response.content[:300]
    return Image.open(io.BytesIO(response.content))


def test_window_presets_change_the_rendered_image(owner: User, fileset: Node) -> None:
    ct = dicom_file(owner, fileset)
    api = Api(owner)
    url = f"/files/{ct.id}/dicom/rendered"
    default = png(api.get(url, size=64))
    bone = png(api.get(url, size=64, window_center=400, window_width=1800))
    brain = png(api.get(url, size=64, window_center=40, window_width=80))
    assert len({default.tobytes(), bone.tobytes(), brain.tobytes()}) == 3
    # A narrower window spreads the same values over more grey levels: more contrast.
    assert _spread(brain) > _spread(bone)
    bad = api.get(url, window_center=40, window_width=0)
    assert bad.status_code in (400, 422)


def _spread(image: Image.Image) -> float:
    import numpy as np

    return float(np.asarray(image.convert("L"), dtype=np.float64).std())


def test_frames_of_a_multiframe_instance(owner: User, fileset: Node) -> None:
    mf = dicom_file(owner, fileset, "rtdose.dcm")  # 15 frames (dose planes)
    api = Api(owner)
    url = f"/files/{mf.id}/dicom/rendered"
    first, middle = png(api.get(url, frame=0)), png(api.get(url, frame=7))
    assert first.tobytes() != middle.tobytes()
    assert api.get(url, frame=15).status_code == 400
    shown = portal(owner).get(f"/r/{mf.id}/preview/").content.decode()
    assert 'id="dicom-frame"' in shown and 'max="14"' in shown and 'data-frames="15"' in shown


def test_viewer_button_when_a_viewer_is_there(
    owner: User, fileset: Node, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sinfonia.web import viewer

    ct = dicom_file(owner, fileset)
    client = portal(owner)
    study = Api(owner).get(f"/files/{ct.id}/dicom").json()["instance"]["study_instance_uid"]
    monkeypatch.setattr(viewer, "installed", lambda: False)
    assert 'id="open-viewer"' not in client.get(f"/r/{ct.id}/preview/").content.decode()
    monkeypatch.setattr(viewer, "installed", lambda: True)  # the built-in OHIF viewer
    shown = client.get(f"/r/{ct.id}/preview/").content.decode()
    assert f'href="/viewer/viewer?StudyInstanceUIDs={study}"' in shown
    settings.SINFONIA_VIEWER_URL = "https://pacs.example.org/ohif/viewer?StudyInstanceUIDs={study}"
    shown = client.get(f"/r/{ct.id}/preview/").content.decode()
    assert f'href="https://pacs.example.org/ohif/viewer?StudyInstanceUIDs={study}"' in shown
    for preset in ("Lung", "Bone", "Soft tissue", "Brain"):
        assert preset in shown


# -- ZIP downloads with a progress token -------------------------------------------------------


def test_archive_progress_under_the_callers_token(owner: User, fileset: Node) -> None:
    add(owner, fileset, "a.bin", b"a" * 300_000)
    add(owner, fileset, "b.bin", b"b" * 200_000)
    api = Api(owner)
    token = str(uuid.uuid4())
    response = api.get("/archive", ids=[fileset.id], progress=token)
    assert response.status_code == 200 and response["X-Operation-Id"] == token
    running = api.ok(api.get(f"/operations/{token}"))
    assert running["status"] == "running" and running["total"] == 500_000
    data = b"".join(response.streaming_content)
    assert sorted(zipfile.ZipFile(io.BytesIO(data)).namelist()) == [
        "Patient 7/a.bin",
        "Patient 7/b.bin",
    ]
    done = api.ok(api.get(f"/operations/{token}"))
    assert (done["status"], done["done"], done["kind"]) == ("done", 500_000, "archive.build")


def test_a_progress_token_is_a_fresh_uuid(
    owner: User, fileset: Node, make_user: Callable[..., User]
) -> None:
    add(owner, fileset, "a.bin", b"a")
    api = Api(owner)
    bad = api.get("/archive", ids=[fileset.id], progress="not-a-uuid")
    assert bad.status_code in (400, 422)
    token = str(uuid.uuid4())
    b"".join(api.get("/archive", ids=[fileset.id], progress=token).streaming_content)
    reused = api.get("/archive", ids=[fileset.id], progress=token)
    assert reused.status_code == 409 and reused.json()["code"] == "bad_progress_token"
    # Another user cannot watch someone's download, nor take their token.
    stranger = Api(make_user("eve"))
    assert stranger.get(f"/operations/{token}").status_code == 404
