from __future__ import annotations


def test_healthz(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_openapi_document_lists_the_api(client, db):
    doc = client.get("/api/v1/openapi.json").json()
    assert doc["info"]["title"] == "Sinfonia API"
    assert "/api/v1/resource/lookup" in doc["paths"]


def test_upload_and_download_round_trip(admin_api):
    coll = admin_api.ok(admin_api.post("/collections", {"name": "WP2"}), 201)
    folder = admin_api.ok(admin_api.post("/folders", {"parent_id": coll["id"], "name": "CT"}), 201)
    f = admin_api.ok(admin_api.upload(folder["id"], "scan.txt", b"hello"), 201)
    assert f["path"] == "/WP2/CT/scan.txt/scan.txt"
    response = admin_api.get(f"/files/{f['id']}/download")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"hello"
